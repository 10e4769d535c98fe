// Validates one .glb (or .gltf) file with the Khronos glTF validator and
// prints a one-line JSON summary on stdout:
//   {file, validator, mimeType, errors, warnings, infos, hints, messages, info}
// messages holds every reported issue (up to maxIssues). The exit status is
// 0 when there are no errors, 1 when there are, 2 when the file could not be
// read or validated at all.
//
// Usage: node validate.mjs path/to/scene.glb
import { readFile } from 'node:fs/promises';
import validator from 'gltf-validator';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs FILE.glb');
  process.exit(2);
}

let report;
try {
  const bytes = new Uint8Array(await readFile(file));
  report = await validator.validateBytes(bytes, { uri: file, maxIssues: 200 });
} catch (err) {
  console.error(`validate ${file}: ${err}`);
  process.exit(2);
}

const issues = report.issues;
const summary = {
  file,
  validator: report.validatorVersion,
  mimeType: report.mimeType,
  errors: issues.numErrors,
  warnings: issues.numWarnings,
  infos: issues.numInfos,
  hints: issues.numHints,
  messages: issues.messages.map((m) => ({
    code: m.code,
    severity: ['error', 'warning', 'info', 'hint'][m.severity] ?? String(m.severity),
    message: m.message,
    pointer: m.pointer,
  })),
  info: report.info,
};
console.log(JSON.stringify(summary));
process.exit(issues.numErrors > 0 ? 1 : 0);
