// compile.js compiles src/*.sol with the solc-js package found on NODE_PATH
// (gen.sh installs the pinned version) and writes build/<Contract>.abi and
// build/<Contract>.bin for abigen. Usage: node compile.js
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const want = fs.readFileSync(path.join(__dirname, 'SOLC_VERSION'), 'utf8').trim();
if (!solc.version().startsWith(want + '+')) {
  throw new Error(`solc ${solc.version()} found, ${want} pinned in SOLC_VERSION`);
}
const srcDir = path.join(__dirname, 'src');
const sources = {};
for (const f of fs.readdirSync(srcDir).sort()) {
  if (f.endsWith('.sol')) sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: 'cancun',
    optimizer: { enabled: true, runs: 999999 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: (p) => {
  const f = path.join(srcDir, path.basename(p));
  return fs.existsSync(f) ? { contents: fs.readFileSync(f, 'utf8') } : { error: 'not found: ' + p };
} }));
let failed = false;
for (const e of out.errors || []) {
  console.error(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
// Only the contracts the Go side binds; interfaces are left out.
const keep = { 'ERC20.sol': ['ERC20'], 'Pair.sol': ['Pair'], 'Factory.sol': ['Factory'], 'Router.sol': ['Router'] };
const buildDir = path.join(__dirname, 'build');
fs.mkdirSync(buildDir, { recursive: true });
for (const [file, names] of Object.entries(keep)) {
  for (const name of names) {
    const c = out.contracts[file][name];
    fs.writeFileSync(path.join(buildDir, name + '.abi'), JSON.stringify(c.abi, null, 1) + '\n');
    fs.writeFileSync(path.join(buildDir, name + '.bin'), c.evm.bytecode.object + '\n');
  }
}
console.log(`compiled with solc ${solc.version()}`);
