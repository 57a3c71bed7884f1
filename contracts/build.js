// Reproducible build of Anchor.sol with the pinned solcjs (package.json): writes the ABI and
// bytecode as canonical JSON to stdout.  `node contracts/build.js > contracts/build/Anchor.json`
// regenerates the committed output; tests/anchor/test_build.py checks it byte for byte.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SOURCE = "contracts/Anchor.sol";
const root = path.resolve(__dirname, "..");
const input = {
  language: "Solidity",
  sources: { [SOURCE]: { content: fs.readFileSync(path.join(root, SOURCE), "utf8") } },
  settings: {
    evmVersion: "shanghai",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "ipfs" },
    outputSelection: { "*": { Anchor: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) process.stderr.write(e.formattedMessage + "\n");
  process.exit(1);
}
const contract = output.contracts[SOURCE].Anchor;
const result = {
  contractName: "Anchor",
  source: SOURCE,
  compiler: "solc " + solc.version(),
  settings: input.settings,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
