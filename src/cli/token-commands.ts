import { type Command, InvalidArgumentError } from "commander";
import type { TokenInfo } from "../gen/gastrolog/v1/admin_pb.js";
import { UNARY_TIMEOUT_MS } from "./admin-client.js";
import {
  type AdminOptions,
  examples,
  homeOption,
  intParser,
  outputOption,
  withAdmin,
} from "./command-support.js";
import { formatSeconds } from "./duration.js";
import { parseDurationOption } from "./duration-option.js";
import { isoOrNull, relativeTime, shortTime, toJson } from "./format.js";
import type { CliIo } from "./io.js";
import { joinAddressOf, joinCommand, renderNewToken } from "./join-command.js";
import { renderTable } from "./table.js";

/** TTL of `token create` without --ttl: a day, like kubeadm's bootstrap tokens. */
export const DEFAULT_TOKEN_TTL_SECONDS = 86_400;

const MAX_LABEL_CHARS = 200;

function parseLabel(value: string): string {
  if (value.length > MAX_LABEL_CHARS) {
    throw new InvalidArgumentError(`a label has at most ${MAX_LABEL_CHARS} characters`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidArgumentError(
      "a label cannot contain control characters (newlines, tabs, escapes)",
    );
  }
  return value;
}

/** A token as `token list -o json` shows it: everything but the secret, which is never kept. */
export function tokenInfoToJson(t: TokenInfo): {
  id: string;
  kind: string;
  label: string;
  state: string;
  usesLeft: number;
  nonvoter?: boolean;
  revoked: boolean;
  expiresAt: string | null;
  createdAt: string | null;
  createdBy: string;
} {
  return {
    id: t.id,
    kind: t.kind,
    label: t.label,
    state: t.state,
    usesLeft: t.usesLeft,
    nonvoter: t.nonvoter,
    revoked: t.revoked,
    expiresAt: isoOrNull(t.expiresAtUnixMs),
    createdAt: isoOrNull(t.createdAtUnixMs),
    createdBy: t.createdBy,
  };
}

function usesText(usesLeft: number): string {
  return usesLeft < 0 ? "unlimited" : String(usesLeft);
}

/** `gastrolog token ...`: create, list, revoke and rotate join tokens. */
export function registerTokenCommands(program: Command, io: CliIo): void {
  const token = program
    .command("token")
    .description("manage join tokens (a token's secret is shown once, when it is made)")
    .helpCommand(false);

  examples(
    outputOption(
      homeOption(
        token
          .command("create")
          .description(
            "create a short-lived join token and print it with a ready-to-paste join command",
          )
          .option(
            "--ttl <duration>",
            `lifetime, e.g. 30m, 1h, 7d, 1h30m (default: ${formatSeconds(DEFAULT_TOKEN_TTL_SECONDS)})`,
            parseDurationOption,
          )
          .option(
            "--uses <n>",
            "how many joins it allows (default: unlimited until it expires)",
            intParser(1, 2 ** 31 - 1),
          )
          .option("--nonvoter", "nodes joining with it stay nonvoters")
          .option("--label <text>", "a note saying what the token is for", parseLabel),
      ),
    ),
    [
      "gastrolog token create --ttl 1h --uses 1",
      "gastrolog token create --ttl 7d --nonvoter --label 'read replicas'",
      "gastrolog token create -o json | jq -r .token",
    ],
  ).action(
    async (
      opts: AdminOptions & { ttl?: number; uses?: number; nonvoter?: boolean; label?: string },
    ) => {
      await withAdmin(io, opts, async (admin) => {
        const res = await admin.token.createToken(
          {
            ttlSeconds: BigInt(opts.ttl ?? DEFAULT_TOKEN_TTL_SECONDS),
            maxUses: opts.uses ?? 0,
            nonvoter: opts.nonvoter === true,
            label: opts.label ?? "",
          },
          { timeoutMs: UNARY_TIMEOUT_MS },
        );
        const joinAddr = await joinAddressOf(admin);
        if (opts.output === "json") {
          io.stdout(
            toJson({
              id: res.id,
              token: res.token,
              expiresAt: isoOrNull(res.expiresAtUnixMs),
              usesLeft: res.usesLeft,
              nonvoter: opts.nonvoter === true,
              label: opts.label ?? "",
              joinCommand: joinCommand(joinAddr, res.token, opts.nonvoter === true),
            }),
          );
          return;
        }
        const expires = `expires ${shortTime(res.expiresAtUnixMs)} (${relativeTime(res.expiresAtUnixMs, io.now())})`;
        const uses = `uses: ${opts.uses === undefined ? "unlimited" : usesText(res.usesLeft)}`;
        io.stdout(
          `Created token ${res.id}: ${expires}, ${uses}${opts.nonvoter ? ", nonvoter" : ""}\n\n` +
            renderNewToken(res.token, joinAddr, { nonvoter: opts.nonvoter === true }),
        );
      });
    },
  );

  examples(
    outputOption(
      homeOption(token.command("list").description("list join tokens (never shows secrets)")),
    ),
    ["gastrolog token list", "gastrolog token list -o json"],
  ).action(async (opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.token.listTokens({}, { timeoutMs: UNARY_TIMEOUT_MS });
      if (opts.output === "json") {
        io.stdout(toJson({ tokens: res.tokens.map(tokenInfoToJson) }));
        return;
      }
      const now = io.now();
      io.stdout(
        renderTable(
          ["ID", "KIND", "STATE", "USES LEFT", "EXPIRES", "SUFFRAGE", "CREATED", "LABEL"],
          res.tokens.map((t) => [
            t.id,
            t.kind,
            t.state,
            usesText(t.usesLeft),
            t.expiresAtUnixMs > 0n ? relativeTime(t.expiresAtUnixMs, now) : "never",
            t.nonvoter ? "nonvoter" : "any",
            `${shortTime(t.createdAtUnixMs)}${t.createdBy ? ` by ${t.createdBy}` : ""}`,
            t.label,
          ]),
        ),
      );
    });
  });

  examples(
    homeOption(
      token
        .command("revoke")
        .description("revoke a token: joins with it are refused from now on")
        .argument("<id>", "the token id (see gastrolog token list)"),
    ),
    ["gastrolog token revoke 3f2a9c"],
  ).action(async (id: string, opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      await admin.token.revokeToken({ id }, { timeoutMs: UNARY_TIMEOUT_MS });
      io.stdout(`revoked token ${id}\n`);
    });
  });

  examples(
    outputOption(
      homeOption(
        token
          .command("rotate")
          .description(
            "replace the reusable cluster token; the old one stops working at once. Prints the new one once",
          ),
      ),
    ),
    ["gastrolog token rotate"],
  ).action(async (opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.token.rotateReusableToken({}, { timeoutMs: UNARY_TIMEOUT_MS });
      const joinAddr = await joinAddressOf(admin);
      if (opts.output === "json") {
        io.stdout(
          toJson({
            id: res.id,
            token: res.token,
            joinCommand: joinCommand(joinAddr, res.token, false),
          }),
        );
        return;
      }
      io.stdout(
        `Rotated the reusable join token (id ${res.id}); the old one no longer works.\n\n` +
          renderNewToken(res.token, joinAddr, {
            heading: "New reusable join token (shown once; store it safely):",
          }),
      );
    });
  });
}
