// Passkeys (W3C WebAuthn Level 3) on Lanyard's pages: adding one on
// /account/passkeys, signing in with one (a button, and the username
// field's autofill: conditional mediation), and using one as the second
// step. The server speaks JSON with base64url for binary fields; the
// browser's API wants ArrayBuffers. No inline script: the CSP forbids it.
"use strict";
(() => {
  const PATHS = {
    addOptions: "/account/passkeys/options",
    add: "/account/passkeys/register",
    signInOptions: "/signin/passkey/options",
    signIn: "/signin/passkey",
    stepOptions: "/signin/passkey/step/options",
    step: "/signin/passkey/step",
  };

  function toBuffer(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const binary = atob(b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const withId = (c) => Object.assign({}, c, { id: toBuffer(c.id) });

  // {publicKey} from the server -> navigator.credentials.create() options.
  function creationOptions(options) {
    const pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    pk.excludeCredentials = (pk.excludeCredentials || []).map(withId);
    return { publicKey: pk };
  }

  // {publicKey, mediation?} from the server -> navigator.credentials.get() options.
  function requestOptions(options, signal) {
    const pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map(withId);
    const asked = { publicKey: pk };
    if (signal) asked.signal = signal;
    if (options.mediation) asked.mediation = options.mediation;
    return asked;
  }

  // A credential as JSON, its binary fields in base64url.
  function asJSON(cred, response) {
    return {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, response,
      extensions: cred.getClientExtensionResults(),
    };
  }

  // create()'s result -> RegisterPublicKeyCredential.
  function attestation(cred) {
    const r = cred.response;
    return asJSON(cred, {
      attestationObject: toText(r.attestationObject),
      clientDataJSON: toText(r.clientDataJSON),
      transports: typeof r.getTransports === "function" ? r.getTransports() : undefined,
    });
  }

  // get()'s result -> PublicKeyCredential.
  function assertion(cred) {
    const r = cred.response;
    return asJSON(cred, {
      authenticatorData: toText(r.authenticatorData),
      clientDataJSON: toText(r.clientDataJSON),
      signature: toText(r.signature),
      userHandle: r.userHandle ? toText(r.userHandle) : null,
    });
  }

  // A same-origin JSON POST carrying the page's CSRF token.
  async function post(path, csrf, body) {
    const res = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(json.error_description || json.error || res.statusText);
    return json;
  }

  function showError(error) {
    const out = document.getElementById("passkey-error");
    if (!out) return;
    const words = error.name === "NotAllowedError"
      ? "The passkey was not used (cancelled, timed out, or not verified)."
      : error.message;
    out.textContent = words;
    out.hidden = false;
    document.body.dataset.passkey = "error";
  }

  // Only one WebAuthn request may be pending: a button first aborts the autofill's.
  let autofill = null;
  function stopAutofill() {
    if (autofill) autofill.abort();
    autofill = null;
  }

  async function assert(button, optionsPath, finishPath, options) {
    const csrf = button.dataset.csrf;
    const { ceremony, options: asked } = await post(optionsPath, csrf, options.body || {});
    const cred = await navigator.credentials.get(requestOptions(asked, options.signal));
    const done = await post(finishPath, csrf, {
      ceremony, credential: assertion(cred),
      request: button.dataset.request || "", return_to: button.dataset.returnTo || "",
      mode: button.dataset.mode || undefined,
    });
    document.body.dataset.passkey = "done";
    window.location.assign(done.redirect);
  }

  function onClick(button, run) {
    button.hidden = false;
    const hint = document.getElementById("passkey-needs-js");
    if (hint) hint.hidden = true;
    button.addEventListener("click", async () => {
      stopAutofill();
      button.disabled = true;
      try { await run(); } catch (e) { showError(e); } finally { button.disabled = false; }
    });
  }

  async function add(button) {
    const csrf = button.dataset.csrf;
    const { ceremony, options } = await post(PATHS.addOptions, csrf, {});
    const cred = await navigator.credentials.create(creationOptions(options));
    const name = (document.getElementById("passkey-name") || {}).value || "";
    const done = await post(PATHS.add, csrf, { ceremony, credential: attestation(cred), name });
    document.body.dataset.passkey = "done";
    window.location.assign(done.redirect);
  }

  // The username field's autofill offers the person's passkeys (conditional mediation).
  async function startAutofill(button) {
    const available = window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable
      && await PublicKeyCredential.isConditionalMediationAvailable();
    document.body.dataset.autofill = String(Boolean(available));
    if (!available) return;
    const controller = new AbortController();
    autofill = controller;
    try {
      await assert(button, PATHS.signInOptions, PATHS.signIn, { body: { conditional: true }, signal: controller.signal });
    } catch (e) {
      if (e.name !== "AbortError" && autofill === controller) showError(e);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.PublicKeyCredential) return;
    const addButton = document.getElementById("passkey-add");
    if (addButton) onClick(addButton, () => add(addButton));
    const step = document.getElementById("passkey-step");
    if (step) onClick(step, () => assert(step, PATHS.stepOptions, PATHS.step, { body: { mode: step.dataset.mode } }));
    const signIn = document.getElementById("passkey-signin");
    if (signIn) {
      const or = document.getElementById("passkey-or");
      if (or) or.hidden = false;
      onClick(signIn, () => assert(signIn, PATHS.signInOptions, PATHS.signIn, { body: { conditional: false } }));
      startAutofill(signIn);
    }
  });
})();
