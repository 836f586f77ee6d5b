// The console's WebAuthn glue: fetch options (WebAuthn Level 3 JSON), turn base64url members
// into ArrayBuffers, call navigator.credentials.create/get, send the answer back as JSON.
// No build step, no external scripts. `window.tbConsole.register()` and `.signIn()` return a
// promise of "ok" or "error: <message>" (the buttons call them; tests may await them).
"use strict";

(function () {
  function toBuffer(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = atob(padded);
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return out.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    return document.querySelector('meta[name="csrf-token"]').content;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || "request refused");
    return data;
  }

  function descriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: toBuffer(d.id) }));
  }

  function creationOptions(json) {
    const options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    const options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJson(credential, response) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  function showError(message) {
    const box = document.getElementById("script-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  async function run(button, ceremony) {
    try {
      const begun = await post(button.dataset.begin, ceremony.beginBody());
      const answer = await ceremony.ask(begun.publicKey);
      const done = await post(button.dataset.finish, { ceremonyId: begun.ceremonyId, credential: answer });
      window.location.assign(done.redirect);
      return "ok";
    } catch (error) {
      const message = (error && error.message) || String(error);
      showError(message);
      return "error: " + message;
    }
  }

  const registration = {
    beginBody() {
      const name = document.getElementById("key-name");
      return { name: name ? name.value : null };
    },
    async ask(options) {
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      const r = credential.response;
      return credentialJson(credential, {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      });
    },
  };

  const assertion = {
    beginBody() {
      return {};
    },
    async ask(options) {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      const r = credential.response;
      return credentialJson(credential, {
        clientDataJSON: toBase64url(r.clientDataJSON),
        authenticatorData: toBase64url(r.authenticatorData),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
      });
    },
  };

  window.tbConsole = {
    register: () => run(document.getElementById("add-key"), registration),
    signIn: () => run(document.getElementById("use-key"), assertion),
    toBuffer: toBuffer,
    toBase64url: toBase64url,
  };

  document.addEventListener("DOMContentLoaded", () => {
    const add = document.getElementById("add-key");
    if (add) add.addEventListener("click", () => window.tbConsole.register());
    const use = document.getElementById("use-key");
    if (use) use.addEventListener("click", () => window.tbConsole.signIn());
  });
})();
