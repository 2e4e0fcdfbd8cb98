/**
 * Renaming an exercise lab: its name, id and switch ports. The exercise lab files name
 * themselves `exercise-<n>` (id `ex<n>`); every check runs them under the student's own identity
 * (student.ts), so that students sharing a machine never touch each other's labs.
 *
 * @module
 */
import { parse, stringify } from "yaml";
import { UserError } from "../errors.ts";

/** What a renamed lab is called and where its switches listen. */
export interface LabIdentity {
  name: string;
  /** Lab id (prefix of every object it creates), at most 5 characters. */
  id: string;
  /** P4Runtime port of the first switch; the next switches get the following ports. */
  grpcPort: number;
  /** Thrift port of the first switch; likewise. */
  thriftPort: number;
}

/**
 * Returns the lab text with `identity`'s name, id and ports (comments are not kept). The text
 * must already be a valid lab file.
 */
export function renameLabText(text: string, identity: LabIdentity): string {
  const doc = parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UserError("Cannot rename the lab: the file is not a YAML mapping");
  }
  const switches = (doc.switches ?? {}) as Record<string, Record<string, unknown> | null>;
  const renamed: Record<string, Record<string, unknown>> = {};
  Object.keys(switches).forEach((name, i) => {
    renamed[name] = {
      ...(switches[name] ?? {}),
      grpc_port: identity.grpcPort + i,
      thrift_port: identity.thriftPort + i,
    };
  });
  return stringify({ ...doc, name: identity.name, id: identity.id, switches: renamed });
}
