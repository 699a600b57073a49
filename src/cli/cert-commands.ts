import type { Command } from "commander";
import { UNARY_TIMEOUT_MS } from "./admin-client.js";
import {
  type AdminOptions,
  examples,
  homeOption,
  outputOption,
  withAdmin,
} from "./command-support.js";
import { toJson } from "./format.js";
import type { CliIo } from "./io.js";
import { joinAddressOf, renderNewToken } from "./join-command.js";
import { followOperation } from "./progress.js";
import { tlsFields, tlsToJson } from "./status-view.js";
import { renderFields } from "./table.js";

const FORCE_HELP =
  "finish even if a member has not applied the rotation (a member left behind must re-enroll)";

/** `gastrolog cert show|rotate` and `gastrolog ca rotate`. */
export function registerCertCommands(program: Command, io: CliIo): void {
  const cert = program
    .command("cert")
    .description("show and rotate the cluster certificate")
    .helpCommand(false);

  examples(
    outputOption(
      homeOption(
        cert
          .command("show")
          .description(
            "the cluster certificate, trusted CAs, days left and any rotation in flight",
          ),
      ),
    ),
    ["gastrolog cert show", "gastrolog cert show -o json | jq .certDaysLeft"],
  ).action(async (opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.cert.showCerts({}, { timeoutMs: UNARY_TIMEOUT_MS });
      io.stdout(
        opts.output === "json"
          ? toJson(tlsToJson(res.tls))
          : renderFields(tlsFields(res.tls, io.now())),
      );
    });
  });

  examples(
    homeOption(
      cert
        .command("rotate")
        .description(
          "rotate the cluster certificate on every node without restarts; waits, showing progress, until finished",
        )
        .option("--force", FORCE_HELP),
    ),
    ["gastrolog cert rotate", "gastrolog cert rotate --force"],
  ).action(async (opts: AdminOptions & { force?: boolean }) => {
    await withAdmin(io, opts, async (admin) => {
      const outcome = await followOperation(
        admin.cert.rotateCert({ force: opts.force === true }),
        io,
        {
          what: "certificate rotation",
          checkWith: "gastrolog cert show",
        },
      );
      io.stdout(`${outcome.final.message || "certificate rotated"}\n`);
    });
  });

  const ca = program.command("ca").description("rotate the cluster CA").helpCommand(false);

  examples(
    homeOption(
      ca
        .command("rotate")
        .description(
          "rotate the CA in three phases (trust the new CA, move the certificate onto it, retire the old one) and reissue the reusable join token; tokens made before stop working",
        )
        .option("--force", FORCE_HELP),
    ),
    ["gastrolog ca rotate"],
  ).action(async (opts: AdminOptions & { force?: boolean }) => {
    await withAdmin(io, opts, async (admin) => {
      const outcome = await followOperation(
        admin.cert.rotateCA({ force: opts.force === true }),
        io,
        {
          what: "CA rotation",
          checkWith: "gastrolog cert show",
        },
      );
      io.stdout(`${outcome.final.message || "CA rotated"}\n`);
      if (outcome.newToken) {
        io.stdout(
          `\n${renderNewToken(outcome.newToken, await joinAddressOf(admin), {
            heading:
              "Join tokens made before the rotation no longer work. New reusable join token (shown once; store it safely):",
          })}`,
        );
      }
    });
  });
}
