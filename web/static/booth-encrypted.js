// The booth of an encrypted round (docs/audit-log.md §10), progressively enhancing the same
// form: the choices are checked and reviewed in this page, then encrypted and proved here with
// ballot-crypto.js, signed with the voter's key (kept in this browser: voter-key.js) and
// posted as one blob. The grades never leave the browser in clear: the form that would post
// them to the review page is never submitted. Without JavaScript (or WebCrypto Ed25519) the
// form works as before, and the service refuses a plaintext ballot for a device key.
import { encryptBallot, signedMessage, toBase64 } from "./ballot-crypto.js";
import { keyFromSeed, storedSeed } from "./voter-key.js";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function booth(form) {
  const d = form.dataset;
  const ballot = JSON.parse(d.ballot);
  const review = document.querySelector("[data-encrypted-review]");
  const castForm = document.querySelector("form[data-encrypted-cast]");
  const status = review.querySelector("[data-encrypt-status]");
  const intro = document.querySelectorAll("[data-booth-intro]");
  const labels = Array.from(form.querySelectorAll(".booth-header span:not(.booth-name)"))
    .map((s) => s.textContent);
  let chosen = null; // {grades} or null for a blank ballot, once reviewed
  const boothTitle = document.title; // the review step is titled as the no-JS review page

  // Said before the voter fills the ballot in, not only once it is confirmed.
  (async () => {
    if (!d.credential) return;
    const seed = storedSeed(d.slug);
    let problem = seed ? null : d.msgNoKey;
    if (seed) {
      try {
        if ((await keyFromSeed(seed)).publicKey !== d.credential) problem = d.msgNoKey;
      } catch (e) {
        problem = d.msgUnsupported;
      }
    }
    if (problem === null) return;
    const note = el("p", { class: "notice", role: "status", "data-key-missing": "" }, problem + " ");
    note.append(el("a", { href: "/primaries/" + d.slug + "/credential" }, d.msgKeyPage));
    form.before(note);
  })();

  function say(text) {
    status.textContent = text;
  }

  function clearErrors() {
    document.querySelectorAll("[data-js-error]").forEach((n) => n.remove());
    form.querySelectorAll(".grade-row.has-error").forEach((row) => {
      row.classList.remove("has-error");
      row.removeAttribute("aria-describedby");
      row.querySelectorAll("input").forEach((i) => i.removeAttribute("aria-invalid"));
    });
  }

  function showErrors(missing) {
    // The same error summary and row messages as the server's page.
    const summary = el("div", { class: "error-summary", id: "erreurs", role: "alert",
      "aria-labelledby": "erreurs-titre", tabindex: "-1", "data-js-error": "" });
    summary.append(el("h2", { id: "erreurs-titre" }, d.msgIncomplete),
      el("p", {}, d.msgIncompleteHelp));
    const list = el("ul");
    for (const [cid, name] of missing) {
      const item = el("li");
      item.append(el("a", { href: "#g-" + cid + "-0" }, name + d.msgSep + d.msgChoose));
      list.append(item);
      const input = document.getElementById("g-" + cid + "-0");
      const row = input.closest(".grade-row");
      row.classList.add("has-error");
      row.setAttribute("aria-describedby", "err-" + cid);
      row.querySelectorAll("input").forEach((i) => i.setAttribute("aria-invalid", "true"));
      const message = el("p", { class: "field-error", id: "err-" + cid, "data-js-error": "" },
        d.msgChoose);
      row.querySelector("legend").after(message);
    }
    summary.append(list);
    form.before(summary);
    summary.focus();
  }

  function showReview(grades) {
    chosen = { grades };
    const body = review.querySelector("tbody");
    body.replaceChildren();
    review.querySelector("[data-review-blank]").hidden = grades !== null;
    review.querySelector("table").hidden = grades === null;
    if (grades !== null) {
      for (const cid of ballot) {
        const name = document.getElementById("g-" + cid + "-0").closest("fieldset")
          .querySelector("legend").textContent;
        const row = el("tr");
        row.append(el("th", { scope: "row" }, name), el("td", {}, labels[grades[cid]]));
        body.append(row);
      }
    }
    form.hidden = true;
    intro.forEach((n) => (n.hidden = true));
    review.hidden = false;
    document.title = d.msgReviewTitle + boothTitle.slice(boothTitle.indexOf(" — "));
    say("");
    review.querySelector("h1").focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault(); // the grades are never posted in clear
    clearErrors();
    if (event.submitter && event.submitter.value === "blank") {
      showReview(null);
      return;
    }
    const grades = {};
    const missing = [];
    for (const cid of ballot) {
      const checked = form.querySelector("input[name='grade-" + cid + "']:checked");
      if (checked) grades[cid] = parseInt(checked.value, 10);
      else {
        const name = document.getElementById("g-" + cid + "-0").closest("fieldset")
          .querySelector("legend").textContent;
        missing.push([cid, name]);
      }
    }
    if (missing.length) showErrors(missing);
    else showReview(grades);
  });

  review.querySelector("[data-review-edit]").addEventListener("click", () => {
    review.hidden = true;
    form.hidden = false;
    intro.forEach((n) => (n.hidden = false));
    document.title = boothTitle;
    form.querySelector("input[type=radio]")?.focus();
  });

  const confirm = review.querySelector("[data-review-confirm]");
  const edit = review.querySelector("[data-review-edit]");

  function busy(on) {
    // While the ballot is encrypted and sent, changing the choices would not change the
    // ballot any more: neither button acts until it fails (or the receipt page loads).
    // (No aria-busy here: it would hush the live status that reports the progress.)
    confirm.disabled = on;
    edit.disabled = on;
  }

  confirm.addEventListener("click", async () => {
    if (chosen === null) return;
    busy(true);
    try {
      if (!window.crypto || !crypto.subtle) throw new Error("unsupported");
      const seed = storedSeed(d.slug);
      if (!seed) {
        say(d.msgNoKey);
        busy(false);
        return;
      }
      let key;
      try {
        key = await keyFromSeed(seed);
      } catch (e) {
        say(d.msgUnsupported);
        busy(false);
        return;
      }
      if (key.publicKey !== d.credential) {
        say(d.msgNoKey);
        busy(false);
        return;
      }
      say(d.msgEncrypting);
      const round = {
        origin: d.origin, round: Number(d.round), electionKey: d.electionKey,
        candidates: JSON.parse(d.candidates), grades: Number(d.grades),
        allowBlank: d.allowBlank === "1", subsetSize: Number(d.subsetSize),
      };
      const started = performance.now();
      const built = await encryptBallot(round, ballot, chosen.grades, d.credential, {
        onProgress: (done, total) => say(d.msgProgress.replace("{done}", done)
          .replace("{total}", total)),
      });
      const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.key,
        signedMessage(round.origin, round.round, built.blob)));
      castForm.querySelector("input[name=encrypted]").value = built.encrypted;
      castForm.querySelector("input[name=credential_sig]").value = toBase64(signature);
      console.info("scrutin: ballot encrypted, proved and signed in " +
        Math.round(performance.now() - started) + " ms (" + built.blob.length + " bytes)");
      say(d.msgSending);
      castForm.submit();
    } catch (e) {
      say(d.msgFailed);
      busy(false);
    }
  });
}

document.querySelectorAll("form[data-encrypted-booth]").forEach(booth);
