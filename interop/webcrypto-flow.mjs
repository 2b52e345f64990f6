// WebCrypto interoperability of the edge-v1 binding: a client written only with the web
// platform's `crypto.subtle`, `crypto.getRandomValues`, `fetch`, `TextEncoder`, `btoa` and
// `atob` (no Node-specific API besides reading the vector file and the exit code), as a
// browser client would be.
//
// Usage: node interop/webcrypto-flow.mjs <CE> [fixtures/vectors/signatures.json]
//
// It runs a full flow against the server at CE (create, unsigned send, secure, signed send,
// key rotation of both parties with EM-New-Key-Signature, URI rotation, retrieve, delete),
// checking each status and body per the binding, and verifies the signature vectors with
// WebCrypto. Exit code 0 when every check passed, 1 on the first failure.

import { readFile } from "node:fs/promises";

const TIMEOUT_MS = 10_000;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PSS = { name: "RSA-PSS", saltLength: 32 };
const KEY_ALG = {
  name: "RSA-PSS",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

let passed = 0;

class CheckFailed extends Error {}

function check(cond, what, detail = "") {
  if (!cond) throw new CheckFailed(`${what}${detail ? `: ${detail}` : ""}`);
  passed += 1;
  console.log(`ok ${passed} ${what}`);
}

function b64(bytes) {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin);
}

// Strict standard padded base64 (B-ENC-B64); atob alone also takes unpadded input.
function unb64(text) {
  if (!BASE64.test(text)) return null;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

const utf8 = new TextEncoder();

// B-SIG-INPUT: "EMSig1" LF METHOD LF PATH LF BODY.
function signingInput(method, path, body) {
  return utf8.encode(`EMSig1\n${method}\n${path}\n${body}`);
}

async function newKey() {
  const pair = await crypto.subtle.generateKey(KEY_ALG, true, ["sign", "verify"]);
  const spki = b64(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { pair, spki };
}

async function sign(key, input) {
  return b64(await crypto.subtle.sign(PSS, key.pair.privateKey, input));
}

function randomCiphertext() {
  return b64(crypto.getRandomValues(new Uint8Array(48)));
}

function randomConnectionId() {
  return b64(crypto.getRandomValues(new Uint8Array(16)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

// Sends one request. `url` is a URL object; the signature covers its path and query.
async function request(method, url, bodyObj, { key = null, newKey = null } = {}) {
  const body = JSON.stringify(bodyObj);
  const path = url.pathname + url.search;
  const input = signingInput(method, path, body);
  const headers = { "Content-Type": "application/json" };
  if (key) headers["Authorization"] = `EMSig ${await sign(key, input)}`;
  if (newKey) headers["EM-New-Key-Signature"] = await sign(newKey, input);
  const resp = await fetch(url, {
    method,
    headers,
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await resp.text();
  let json = null;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: resp.status, text, json, headers: resp.headers };
}

function expectStatus(resp, status, what) {
  check(resp.status === status, `${what} → ${status}`, `got ${resp.status} ${resp.text.slice(0, 200)}`);
}

async function flow(ce) {
  const rk1 = await newKey();
  const rk2 = await newKey();
  const sk1 = await newKey();
  const sk2 = await newKey();
  const cid = randomConnectionId();
  const resolve = (u) => new URL(u, ce);

  // Create, signed with the RK the body carries (S-CREATE-SIGN, S-CREATE-201).
  let r = await request("POST", ce, { connectionID: cid, recipient: rk1.spki }, { key: rk1 });
  expectStatus(r, 201, "create signed with RK (WebCrypto RSA-PSS, salt 32)");
  check(
    r.json && typeof r.json.recipientURI === "string" && typeof r.json.senderURI === "string",
    "create returns recipientURI and senderURI",
    r.text,
  );
  let ru = resolve(r.json.recipientURI);
  let su = resolve(r.json.senderURI);
  check(ru.href !== su.href, "RU ≠ SU");
  const sent = [];

  // Unsigned send while no SK is set (S-G-OPEN).
  let msg = randomCiphertext();
  r = await request("POST", new URL(su.href + "/messages"), { connectionID: cid, messages: [{ msg }] });
  expectStatus(r, 200, "unsigned send before SK is set");
  sent.push(msg);

  // Secure the connection: the recipient sets SK (S-RUPD-FIRST, S-RUPD-200).
  r = await request("PUT", ru, { connectionID: cid, sender: sk1.spki }, { key: rk1 });
  expectStatus(r, 200, "recipient sets SK");

  r = await request("POST", new URL(su.href + "/messages"), {
    connectionID: cid,
    messages: [{ msg: randomCiphertext() }],
  });
  expectStatus(r, 401, "unsigned send once SK is set");

  // Signed send (S-G-SIGNED-ONLY).
  msg = randomCiphertext();
  r = await request(
    "POST",
    new URL(su.href + "/messages"),
    { connectionID: cid, messages: [{ msg }] },
    { key: sk1 },
  );
  expectStatus(r, 200, "send signed with SK");
  sent.push(msg);

  // Recipient key rotation with proof of possession (B-SIG-NEWKEY).
  r = await request("PUT", ru, { connectionID: cid, recipient: rk2.spki }, { key: rk1 });
  expectStatus(r, 401, "new RK without EM-New-Key-Signature");
  r = await request("PUT", ru, { connectionID: cid, recipient: rk2.spki }, { key: rk1, newKey: rk2 });
  expectStatus(r, 200, "new RK with EM-New-Key-Signature by the new key");
  r = await request("POST", new URL(ru.href + "/messages"), { connectionID: cid, keepMessages: true }, { key: rk1 });
  expectStatus(r, 401, "retrieve signed with the old RK");

  // Sender key rotation with proof of possession.
  r = await request("PUT", su, { connectionID: cid, sender: sk2.spki }, { key: sk1, newKey: sk2 });
  expectStatus(r, 200, "sender replaces SK with EM-New-Key-Signature");
  r = await request(
    "POST",
    new URL(su.href + "/messages"),
    { connectionID: cid, messages: [{ msg: randomCiphertext() }] },
    { key: sk1 },
  );
  expectStatus(r, 401, "send signed with the old SK");
  msg = randomCiphertext();
  r = await request(
    "POST",
    new URL(su.href + "/messages"),
    { connectionID: cid, messages: [{ msg }, { msg: randomCiphertext() }] },
    { key: sk2 },
  );
  expectStatus(r, 200, "batch send signed with the new SK");
  sent.push(msg);
  // The second message of that batch is read back too.
  sent.push(null);

  // URI rotation of both URIs (S-RUPD-200, S-RUPD-OLDURI).
  r = await request("PUT", ru, { connectionID: cid, newRecipientURI: true, newSenderURI: true }, { key: rk2 });
  expectStatus(r, 200, "recipient regenerates RU and SU");
  check(
    r.json && typeof r.json.recipientURI === "string" && typeof r.json.senderURI === "string",
    "the update returns both new URIs",
    r.text,
  );
  const oldRu = ru;
  ru = resolve(r.json.recipientURI);
  su = resolve(r.json.senderURI);
  r = await request("POST", new URL(oldRu.href + "/messages"), { connectionID: cid }, { key: rk2 });
  expectStatus(r, 404, "retrieve at the old RU");

  // Retrieve everything, FIFO, unchanged (S-RETR-200), and it is removed (S-RETR-REMOVE).
  r = await request("POST", new URL(ru.href + "/messages"), { connectionID: cid }, { key: rk2 });
  expectStatus(r, 200, "retrieve at the new RU with the new RK");
  const got = r.json && Array.isArray(r.json.messages) ? r.json.messages : [];
  check(got.length === sent.length, `retrieve returns the ${sent.length} messages sent`, r.text);
  sent.forEach((m, i) => {
    if (m !== null) check(got[i].msg === m, `message ${i + 1} comes back unchanged, in order`);
  });
  check(
    got.every((m) => Object.keys(m).sort().join() === "id,msg,ts"),
    "each message is exactly {id, ts, msg}",
  );
  check(!("nextMessageID" in r.json), "no nextMessageID when nothing remains");
  r = await request("POST", new URL(ru.href + "/messages"), { connectionID: cid }, { key: rk2 });
  expectStatus(r, 200, "retrieve again");
  check(r.json && r.json.messages.length === 0, "retrieved messages were removed", r.text);

  // Delete the connection (S-DEL-200, S-DEL-AFTER).
  r = await request("DELETE", ru, { connectionID: cid }, { key: rk2 });
  expectStatus(r, 200, "delete the connection");
  check(r.text === "", "delete answers with an empty body", r.text);
  r = await request("POST", new URL(su.href + "/messages"), {
    connectionID: cid,
    messages: [{ msg: randomCiphertext() }],
  }, { key: sk2 });
  expectStatus(r, 404, "send to the deleted connection");
}

async function verifyVectors(path) {
  const file = JSON.parse(await readFile(path, "utf8"));
  const publicKeys = {};
  const privateKeys = {};
  for (const [name, k] of Object.entries(file.keys)) {
    publicKeys[name] = await crypto.subtle.importKey("spki", unb64(k.spki), { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
    privateKeys[name] = await crypto.subtle.importKey("pkcs8", unb64(k.pkcs8), { name: "RSA-PSS", hash: "SHA-256" }, false, ["sign"]);
  }
  for (const v of file.vectors) {
    const input = signingInput(v.method, v.requestTarget, v.body);
    const sig = unb64(v.signature);
    const ok = sig !== null && sig.length > 0 && (await crypto.subtle.verify(PSS, publicKeys[v.key], sig, input));
    check(ok === v.valid, `vector ${v.id}: WebCrypto says ${v.valid ? "valid" : "invalid"}`);
    if (v.valid) {
      const mine = await crypto.subtle.sign(PSS, privateKeys[v.key], input);
      check(await crypto.subtle.verify(PSS, publicKeys[v.key], mine, input), `vector ${v.id}: WebCrypto signs with the vector's key`);
    }
  }
  // The broken ones are what they claim to be, seen from WebCrypto.
  const byId = Object.fromEntries(file.vectors.map((v) => [v.id, v]));
  const at = (id) => [signingInput(byId[id].method, byId[id].requestTarget, byId[id].body), unb64(byId[id].signature), publicKeys[byId[id].key]];
  let [input, sig, key] = at("pss-salt-20");
  check(await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 20 }, key, sig, input), "pss-salt-20 is a PSS signature with a 20-byte salt");
  [input, sig] = at("pkcs1-v1_5");
  const pkcs1Key = await crypto.subtle.importKey("spki", unb64(file.keys[byId["pkcs1-v1_5"].key].spki), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  check(await crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, pkcs1Key, sig, input), "pkcs1-v1_5 is a PKCS#1 v1.5 signature");
  const wrong = byId["wrong-path-line"];
  check(
    await crypto.subtle.verify(PSS, publicKeys[wrong.key], unb64(wrong.signature), utf8.encode(wrong.signingInput)),
    "wrong-path-line verifies over the other path only",
  );
}

async function main() {
  const [ceArg, vectors] = process.argv.slice(2);
  if (!ceArg) {
    console.error("usage: node interop/webcrypto-flow.mjs <CE URL> [signature vectors JSON]");
    process.exit(2);
  }
  let ce;
  try {
    ce = new URL(ceArg);
  } catch {
    console.error(`not a URL: ${ceArg}; give the create endpoint, e.g. http://127.0.0.1:8443/connection`);
    process.exit(2);
  }
  try {
    await flow(ce);
    if (vectors) await verifyVectors(vectors);
  } catch (e) {
    const what = e instanceof CheckFailed ? "check failed" : "error";
    console.error(`not ok ${passed + 1} ${what}: ${e.message}`);
    console.log(`webcrypto: ${passed} passed, 1 failed`);
    process.exit(1);
  }
  console.log(`webcrypto: ${passed} passed, 0 failed`);
}

await main();
