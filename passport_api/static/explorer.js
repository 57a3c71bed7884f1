"use strict";
// Verify one record in the browser, trusting nothing the node says without checking it:
//  1. the latest checkpoint (C2SP signed note) is signed by the log key (Ed25519);
//  2. the record's bytes hash to its id;
//  3. the RFC 9162 inclusion proof puts the record's leaf under the checkpoint's root;
//  4. the record's own Ed25519 signature ("passport/record/v1" 0x00 || record without sig)
//     verifies under a key in force at its seq, following the key.rotate / device.* records
//     of the author's chain (each of those checked under the main key of its own seq).
// The log key comes from /v1/health unless the URL pins one (?log_key=<64 hex>).
(function () {
  const enc = new TextEncoder();
  const RECORD_DOMAIN = enc.encode("passport/record/v1\u0000");
  const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const KEY_TYPES = ["key.rotate", "device.add", "device.remove"];
  const CHAIN_PAGE = 1000;

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  function fromHex(s) {
    if (!/^([0-9a-f]{2})+$/.test(s)) throw new Error("not lowercase hex");
    return Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
  }
  function fromB64(s) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error("not base64");
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  }
  function fromB64url(s) {
    if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("not base64url");
    const std = s.replace(/-/g, "+").replace(/_/g, "/");
    return fromB64(std + "===".slice((std.length + 3) % 4));
  }
  const b64url = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  async function ed25519(publicKey, signature, message) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const key = await crypto.subtle.importKey("raw", publicKey, {name: "Ed25519"}, false,
                                              ["verify"]);
    return crypto.subtle.verify({name: "Ed25519"}, key, signature, message);
  }
  function keyOfDid(did) {
    if (typeof did !== "string" || !did.startsWith("did:key:z")) throw new Error("not a did:key");
    let n = 0n;
    const text = did.slice("did:key:z".length);
    for (const c of text) {
      const i = B58.indexOf(c);
      if (i < 0) throw new Error("did:key is not base58btc");
      n = n * 58n + BigInt(i);
    }
    const bytes = [];
    while (n > 0n) { bytes.unshift(Number(n & 255n)); n >>= 8n; }
    for (const c of text) { if (c !== "1") break; bytes.unshift(0); }
    if (bytes.length !== 34 || bytes[0] !== 0xed || bytes[1] !== 0x01) {
      throw new Error("did:key does not hold an Ed25519 key");
    }
    return Uint8Array.from(bytes.slice(2));
  }

  // --- the log: checkpoint and inclusion ----------------------------------------------------
  async function verifyCheckpoint(note, logKey) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
    const body = note.slice(0, split + 1);
    const lines = body.slice(0, -1).split("\n");
    if (lines.length !== 4 || !/^time (0|[1-9][0-9]*)$/.test(lines[3])) {
      throw new Error("checkpoint body is not origin, size, root, time");
    }
    const [origin, sizeText, rootText] = lines;
    if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error("tree size is not a decimal");
    const root = fromB64(rootText);
    if (root.length !== 32) throw new Error("root is not 32 bytes");
    const keyId = (await sha256(concat(enc.encode(origin + "\n"), [1], logKey))).slice(0, 4);
    let verified = false;
    for (const line of note.slice(split + 2, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) throw new Error("malformed signature line");
      const [name, blobText] = line.slice(2).split(" ");
      const blob = fromB64(blobText || "");
      if (name !== origin || !equal(blob.slice(0, 4), keyId)) continue;  // a cosignature
      if (!(await ed25519(logKey, blob.slice(4), enc.encode(body)))) {
        throw new Error("the log key's signature on the checkpoint does not verify");
      }
      verified = true;
    }
    if (!verified) throw new Error("no signature by the log key on the checkpoint");
    return {origin, size: Number(sizeText), root};
  }

  async function nodeHash(left, right) { return sha256(concat([1], left, right)); }

  // --- the inclusion proof, computed from the log's tiles (c2sp.org/tlog-tiles) --------------
  function tilePath(level, n, width) {
    const groups = [String(n % 1000).padStart(3, "0")];
    for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000)) {
      groups.unshift("x" + String(n % 1000).padStart(3, "0"));
    }
    return `/tile/${level}/${groups.join("/")}` + (width === 256 ? "" : `.p/${width}`);
  }

  class Tiles {
    constructor(size) { this.size = size; this.tiles = new Map(); this.fetched = 0; }

    async tile(level, n) {  // tile (level, n) at the width the tree of this size has it
      const key = `${level}/${n}`;
      if (!this.tiles.has(key)) {
        const width = Math.min(256, Math.floor(this.size / 256 ** level) - n * 256);
        const response = await fetch(tilePath(level, n, width));
        if (!response.ok) throw new Error(`tile ${key}: HTTP ${response.status}`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        if (bytes.length !== 32 * width) throw new Error(`tile ${key} is ${bytes.length} bytes`);
        this.fetched += 1;
        this.tiles.set(key, bytes);
      }
      return this.tiles.get(key);
    }

    async perfect(height, start) {  // MTH(D[start : start + 2**height]), from one tile
      const level = Math.floor(height / 8), count = 2 ** (height % 8);
      const first = Math.floor(start / 256 ** level);
      const tile = await this.tile(level, Math.floor(first / 256));
      let layer = [];
      for (let i = first % 256; i < first % 256 + count; i++) layer.push(tile.slice(32 * i, 32 * i + 32));
      while (layer.length > 1) {
        const next = [];
        for (let i = 0; i < layer.length; i += 2) next.push(await nodeHash(layer[i], layer[i + 1]));
        layer = next;
      }
      return layer[0];
    }

    async mth(start, end) {  // RFC 9162 MTH(D[start:end]), split where the RFC splits it
      const n = end - start;
      let k = 1;
      while (k < n) k *= 2;
      if (k === n) return this.perfect(Math.log2(n), start);
      k /= 2;
      return nodeHash(await this.mth(start, start + k), await this.mth(start + k, end));
    }

    async path(m, start, end) {  // RFC 9162 PATH(m, D[start:end]), leaf side first
      const n = end - start;
      if (n <= 1) return [];
      let k = 1;
      while (k * 2 < n) k *= 2;
      if (m < k) return [...(await this.path(m, start, start + k)), await this.mth(start + k, end)];
      return [...(await this.path(m - k, start + k, end)), await this.mth(start, start + k)];
    }
  }

  // RFC 9162 section 2.1.3.2
  async function verifyInclusion(leafHash, index, size, proof, root) {
    if (index >= size) throw new Error(`index ${index} is not in a tree of size ${size}`);
    let fn = index, sn = size - 1, r = leafHash;
    for (const p of proof) {
      if (sn === 0) throw new Error("the proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the proof is too short");
    if (!equal(r, root)) throw new Error("the proof leads to another root than the checkpoint's");
  }

  // --- the record: its signature under the keys in force ------------------------------------
  function signingPayload(raw) {
    const start = raw.lastIndexOf(',"sig":"');
    if (start < 0) throw new Error("record has no sig");
    const end = raw.indexOf('"', start + 8);
    return {payload: enc.encode(raw.slice(0, start) + raw.slice(end + 1)),
            sig: raw.slice(start + 8, end)};
  }

  async function signedBy(raw, keys) {
    const {payload, sig} = signingPayload(raw);
    const signature = fromB64url(sig);
    for (const key of keys) {
      if (await ed25519(key, signature, concat(RECORD_DOMAIN, payload))) return key;
    }
    return null;
  }

  function keysAt(epochs, seq, mainOnly) {
    return epochs.filter((e) => e.first <= seq && (e.last === null || seq <= e.last)
                         && (e.role === "main" || !mainOnly)).map((e) => e.key);
  }

  async function fetchJson(path) {
    const response = await fetch(path, {cache: "no-store"});
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  async function chainUpTo(author, seq) {
    const records = [];
    let after = 0;
    while (after !== null && records.length < seq) {
      const page = await fetchJson(`/v1/members/${encodeURIComponent(author)}/chain` +
                                   `?after_seq=${after}&limit=${CHAIN_PAGE}`);
      records.push(...page.records);
      after = page.next_after_seq;
    }
    return records.slice(0, seq);
  }

  async function verifyRecordSignature(record, raw, id) {
    const chain = await chainUpTo(record.author, record.seq);
    if (chain.length !== record.seq || chain[record.seq - 1].id !== id) {
      throw new Error(`the node's chain of ${record.author} has not this record at seq ${record.seq}`);
    }
    let epochs = [{key: keyOfDid(record.author), role: "main", first: 1, last: null}];
    for (const entry of chain.slice(0, -1)) {
      const r = JSON.parse(entry.record);
      if (!KEY_TYPES.includes(r.type)) continue;
      if (!(await signedBy(entry.record, keysAt(epochs, r.seq, true)))) {
        throw new Error(`${r.type} at seq ${r.seq} is not signed by the main key in force`);
      }
      if (r.type === "key.rotate") {
        const next = keyOfDid(r.body.next);
        const main = epochs.find((e) => e.role === "main" && e.last === null);
        if (!equal(next, main.key)) {
          main.last = r.seq;
          epochs.push({key: next, role: "main", first: r.seq + 1, last: null});
        }
      } else if (r.type === "device.add") {
        epochs.push({key: keyOfDid(r.body.device), role: "device", first: r.seq + 1, last: null});
      } else {
        const device = keyOfDid(r.body.device);
        epochs = epochs.map((e) => (e.role === "device" && e.last === null && equal(e.key, device)
                                    ? {...e, last: r.seq} : e));
      }
    }
    const key = await signedBy(raw, keysAt(epochs, record.seq, KEY_TYPES.includes(record.type)));
    if (!key) throw new Error(`the signature does not verify under any key in force at seq ${record.seq}`);
    return key;
  }

  // --- the page -------------------------------------------------------------------------------
  const box = document.getElementById("verify");
  if (!box) return;
  const verdict = document.getElementById("verdict");
  const list = document.getElementById("checks");

  function show(state, text) {
    const li = document.createElement("li");
    li.className = state;
    li.textContent = text;
    list.appendChild(li);
  }

  async function check(name, run) {
    try {
      const detail = await run();
      show("ok", `${name}${detail ? ": " + detail : ""}`);
      return true;
    } catch (e) {
      show("fail", `${name}: ${e && e.message ? e.message : e}`);
      return false;
    }
  }

  async function main() {
    if (!window.crypto || !crypto.subtle) {
      throw new Error("this browser gives no WebCrypto here (open the explorer over https or on localhost)");
    }
    const id = box.dataset.recordId;
    const pinned = new URLSearchParams(window.location.search).get("log_key");
    let logKey = null, head = null, stored = null, record = null, proof = null;
    const results = [];
    results.push(await check("log key", async () => {
      logKey = fromHex(pinned || (await fetchJson("/v1/health")).log_key);
      if (logKey.length !== 32) throw new Error("not a 32-byte Ed25519 key");
      return `${hex(logKey)} (${pinned ? "pinned in the URL" : "as this node's /v1/health gives it"})`;
    }));
    results.push(await check("checkpoint signed by the log key", async () => {
      if (!logKey) throw new Error("no log key");
      const response = await fetch("/checkpoint", {cache: "no-store"});
      if (!response.ok) throw new Error(`/checkpoint: HTTP ${response.status}`);
      head = await verifyCheckpoint(await response.text(), logKey);
      return `tree size ${head.size}, root ${hex(head.root).slice(0, 16)}…`;
    }));
    results.push(await check("record bytes hash to its id", async () => {
      stored = await fetchJson(`/v1/records/${encodeURIComponent(id)}`);
      const digest = "sha256:" + hex(await sha256(enc.encode(stored.record)));
      record = JSON.parse(stored.record);
      if (digest !== id) throw new Error(`the bytes served hash to ${digest}`);
      return id;
    }));
    results.push(await check("included in the signed tree", async () => {
      if (!head || !stored) throw new Error("no verified checkpoint or record to check against");
      if (stored.index >= head.size) throw new Error(`index ${stored.index} is not in a tree of size ${head.size}`);
      const tiles = new Tiles(head.size);
      proof = await tiles.path(stored.index, 0, head.size);
      document.getElementById("proof").textContent = proof.map(b64url).join("\n") || "(empty: a one-record tree)";
      const leaf = await sha256(concat([0], enc.encode(stored.record)));
      await verifyInclusion(leaf, stored.index, head.size, proof, head.root);
      return `leaf ${stored.index} of ${head.size}, ${proof.length} hashes from ${tiles.fetched} tile(s)`;
    }));
    results.push(await check("signed by its author", async () => {
      if (!record) throw new Error("no record");
      const key = await verifyRecordSignature(record, stored.record, id);
      return `Ed25519 key ${hex(key).slice(0, 16)}… in force at seq ${record.seq}`;
    }));
    return results.every(Boolean);
  }

  main().then((ok) => {
    verdict.dataset.result = ok ? "ok" : "fail";
    verdict.className = "verdict " + (ok ? "ok" : "fail");
    verdict.textContent = ok ? "✓ Verified: this record is in the log the node signed, and its author signed it."
                             : "✗ Not verified: see the failed check below. Do not trust this record.";
  }, (e) => {
    verdict.dataset.result = "fail";
    verdict.className = "verdict fail";
    verdict.textContent = "✗ Could not verify: " + (e && e.message ? e.message : e);
  });
})();
