// Voter-held credentials (docs/audit-log.md §8 "Voter-held credentials").
// The Ed25519 key is made on this device with WebCrypto; only its public half is sent.
// Its 32-byte seed is kept in this browser's localStorage and shown once as a recovery code
// (WebCrypto cannot re-export a non-extractable key, and the voter needs to carry it).
// Without WebCrypto Ed25519 (old browser, page not in a secure context) nothing here runs
// and the page's no-JavaScript path (an assisted key) stays in place. An ES module: the seed's
// storage and the WebCrypto key are voter-key.js's, shared with the encrypted booth.
import { fromBase64, toBase64 } from "./base64.js";
import { keyFromSeed, storeSeed, storedSeed } from "./voter-key.js";

function recoveryCode(seed) {
  return toBase64(seed).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function seedFromCode(code) {
  var t = code.trim().replace(/\s+/g, "").replace(/-/g, "+").replace(/_/g, "/");
  while (t.length % 4) t += "=";
  var seed = fromBase64(t);
  if (seed.length !== 32) throw new Error("length");
  return seed;
}
async function supported() {
  if (!window.crypto || !crypto.subtle) return false;
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    return true;
  } catch (e) { return false; }
}
async function newSeed() {
  var pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  var pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return pkcs8.slice(pkcs8.length - 32);
}
function csrf() {
  var input = document.querySelector("input[name=csrf_token]");
  return input ? input.value : "";
}
async function api(method, url, body) {
  var response = await fetch(url, {
    method: method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  var data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data: data };
}
function say(el, text) {
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
}

// -- the key page -----------------------------------------------------------------------
async function keyPage(page) {
  var slug = page.dataset.slug;
  var status = page.querySelector("[data-key-status]");
  var recovery = page.querySelector("[data-recovery]");
  var recoveryText = page.querySelector("[data-recovery-code]");
  var t = page.dataset;
  if (!(await supported())) {
    say(status, t.msgUnsupported);
    return;
  }
  page.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
  page.querySelectorAll("[data-nojs-only]").forEach(function (el) { el.hidden = true; });
  var server = page.dataset.serverKey || "";
  var seed = storedSeed(slug);
  if (seed) {
    var mine = await keyFromSeed(seed);
    say(status, mine.publicKey === server ? t.msgHere : t.msgStale);
  } else if (server) {
    say(status, t.msgElsewhere);
  }
  async function make(replace) {
    var fresh = await newSeed();
    var made = await keyFromSeed(fresh);
    var result = await api("POST", "/api/primaries/" + slug + "/credential",
      { public_key: made.publicKey, replace: replace });
    if (result.status !== 201) {
      say(status, result.data && result.data.error ? result.data.error.message : t.msgFailed);
      return;
    }
    storeSeed(slug, fresh);
    page.dataset.serverKey = made.publicKey;
    recoveryText.textContent = recoveryCode(fresh);
    recovery.hidden = false;
    say(status, t.msgCreated);
  }
  var create = page.querySelector("[data-create-key]");
  if (create) create.addEventListener("click", function () { make(false); });
  var replace = page.querySelector("[data-replace-key]");
  if (replace) replace.addEventListener("click", function () { make(true); });
  var restore = page.querySelector("[data-restore-form]");
  if (restore) {
    restore.addEventListener("submit", async function (event) {
      event.preventDefault();
      var code = restore.querySelector("input[name=recovery_code]").value;
      try {
        var s = seedFromCode(code);
        var k = await keyFromSeed(s);
        if (k.publicKey !== page.dataset.serverKey) throw new Error("other key");
        storeSeed(slug, s);
        say(status, t.msgRestored);
      } catch (e) {
        say(status, t.msgBadCode);
      }
    });
  }
}

// -- the review page: sign the sealed ballot, then post the form ------------------------
async function castForm(form) {
  var slug = form.dataset.slug;
  var round = form.dataset.round;
  var note = document.querySelector("[data-sign-status]");
  form.addEventListener("submit", async function (event) {
    if (event.submitter && event.submitter.name === "edit") return;
    if (form.dataset.assisted === "1") return; // the service signs with the assisted key
    event.preventDefault();
    if (!(await supported())) { say(note, form.dataset.msgUnsupported); return; }
    var seed = storedSeed(slug);
    if (!seed) { say(note, form.dataset.msgNoKey); return; }
    var grades = {};
    form.querySelectorAll("input[name^='grade-']").forEach(function (input) {
      grades[input.name.slice(6)] = parseInt(input.value, 10);
    });
    var choice = form.querySelector("input[name=choice]");
    var blank = choice && choice.value === "blank";
    var sealed = await api("POST", "/api/primaries/" + slug + "/rounds/" + round + "/seal",
      { grades: blank ? {} : grades, blank: blank });
    if (sealed.status !== 200) {
      say(note, sealed.data && sealed.data.error ? sealed.data.error.message : form.dataset.msgFailed);
      return;
    }
    var key = await keyFromSeed(seed);
    var signature = new Uint8Array(
      await crypto.subtle.sign({ name: "Ed25519" }, key.key, fromBase64(sealed.data.message)));
    [["sealed", sealed.data.sealed], ["token", sealed.data.token], ["signature", toBase64(signature)]]
      .forEach(function (pair) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = pair[0];
        input.value = pair[1];
        form.appendChild(input);
      });
    say(note, form.dataset.msgSigned);
    HTMLFormElement.prototype.submit.call(form);
  });
}

// -- a support button: sign "scrutin-support/v1\0" + origin + "\0" + candidate ------------
function supportForm(form) {
  var note = form.querySelector("[data-sign-status]");
  form.addEventListener("submit", async function (event) {
    if (form.dataset.signed === "1") return;
    event.preventDefault();
    var slug = form.dataset.slug;
    var mine = await api("GET", "/api/primaries/" + slug + "/credential");
    if (mine.status === 200 && mine.data.assisted) { form.dataset.signed = "1"; form.submit(); return; }
    var seed = storedSeed(slug);
    if (mine.status !== 200 || !seed || !(await supported())) {
      say(note, form.dataset.msgNoKey);
      return;
    }
    var key = await keyFromSeed(seed);
    var text = new TextEncoder();
    var parts = [text.encode("scrutin-support/v1"), [0], text.encode(mine.data.origin), [0],
      text.encode(form.dataset.candidate)];
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var message = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { message.set(p, at); at += p.length; });
    var signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.key, message));
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "credential_sig";
    input.value = toBase64(signature);
    form.appendChild(input);
    form.dataset.signed = "1";
    HTMLFormElement.prototype.submit.call(form);
  });
}

// -- check my ballot: fill in the public half of the key this browser keeps ------------
async function checkForm(form) {
  var slug = form.dataset.slug;
  var status = form.querySelector("[data-key-status]");
  if (!(await supported())) return;
  form.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
  form.querySelector("[data-use-stored-key]").addEventListener("click", async function () {
    var seed = storedSeed(slug);
    if (!seed) { say(status, form.dataset.msgNoKey); return; }
    form.querySelector("input[name=credential]").value = (await keyFromSeed(seed)).publicKey;
    HTMLFormElement.prototype.submit.call(form);
  });
}

document.querySelectorAll("form[data-credential-check]").forEach(checkForm);
document.querySelectorAll("form[data-sign-support]").forEach(supportForm);
document.querySelectorAll("[data-credential-page]").forEach(keyPage);
document.querySelectorAll("form[data-voter-credentials]").forEach(castForm);
