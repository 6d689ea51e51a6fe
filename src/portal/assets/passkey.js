// Portcullis: passkeys (WebAuthn), the only script the gateway's pages use.
//
// A form with data-passkey="get" or "create" carries, in data-options, the
// options the gateway made for this page. Its button asks the browser for
// a passkey; the answer goes into the form's "passkey" field and the form
// posts as any other. Without this script, or in a browser without
// passkeys, the form stays hidden and the page says to use another way.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!forms.length || !window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    (list || []).forEach(function (credential) {
      credential.id = toBytes(credential.id);
    });
  }

  // The gateway's options (base64url text) as the browser wants them (bytes).
  function creation(options) {
    var key = options.publicKey;
    key.challenge = toBytes(key.challenge);
    key.user.id = toBytes(key.user.id);
    ids(key.excludeCredentials);
    return { publicKey: key };
  }

  function request(options, signal, mediation) {
    var key = options.publicKey;
    key.challenge = toBytes(key.challenge);
    ids(key.allowCredentials);
    var asked = { publicKey: key, signal: signal };
    if (mediation) {
      asked.mediation = mediation;
    }
    return asked;
  }

  // The browser's answer as the gateway reads it (base64url text).
  function answer(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) {
        out.response.transports = response.getTransports();
      }
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) {
        out.response.userHandle = toText(response.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function post(form, credential) {
    form.elements.passkey.value = answer(credential);
    form.submit();
  }

  function failed(form) {
    var error = form.querySelector(".passkey-error");
    if (error) {
      error.hidden = false;
    }
  }

  forms.forEach(function (form) {
    form.hidden = false;
    var without = document.getElementById(form.id + "-without");
    if (without) {
      without.hidden = true;
    }
    var autofill = null;
    // On the sign-in page the username field can offer passkeys too.
    if (form.dataset.autofill !== undefined && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) {
          return;
        }
        autofill = new AbortController();
        var options = JSON.parse(form.dataset.options);
        navigator.credentials
          .get(request(options, autofill.signal, "conditional"))
          .then(function (credential) { post(form, credential); })
          .catch(function () {});
      });
    }
    form.addEventListener("submit", function (event) {
      if (form.elements.passkey.value) {
        return;
      }
      event.preventDefault();
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      var options = JSON.parse(form.dataset.options);
      var asked = form.dataset.passkey === "create"
        ? navigator.credentials.create(creation(options))
        : navigator.credentials.get(request(options));
      asked.then(function (credential) { post(form, credential); }, function () { failed(form); });
    });
  });
})();
