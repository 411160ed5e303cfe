// Parse an AsyncAPI document with the official parser; print every diagnostic of severity error
// and exit 1 if there is one (warnings are printed too, but pass). Usage: node validate.js FILE
'use strict';
const fs = require('node:fs');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

async function main(path) {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(path, 'utf8'), { source: path });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics) {
    const level = d.severity === DiagnosticSeverity.Error ? 'error' : 'warning';
    console.log(`${level} ${d.code} at ${d.path.join('.') || '(root)'}: ${d.message}`);
  }
  if (errors.length || !document) {
    console.log(`${path}: ${errors.length} error(s)`);
    process.exit(1);
  }
  console.log(`${path}: valid AsyncAPI ${document.version()}`);
}

main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(2);
});
