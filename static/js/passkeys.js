// Passkeys, for the forms marked data-passkey ("add" or "sign-in"), which stay hidden unless
// this browser has WebAuthn with its JSON helpers. Each form asks the server for options
// (POST data-options), runs the ceremony, and posts the answer as its "credential" field: the
// server's answer is then an ordinary page, errors included.

const supported =
  typeof window.PublicKeyCredential === "function" &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
  typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

async function optionsFor(form) {
  const response = await fetch(form.dataset.options, {
    method: "POST",
    headers: { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
    credentials: "same-origin",
  });
  if (response.status === 403 && (await response.json()).error === "sign_in_again") {
    // The session is too old to add a way in: the form, sent without an answer, gets the
    // server's page that signs in again and comes back.
    form.submit();
    throw new DOMException("sign in again", "AbortError");
  }
  if (!response.ok) throw new Error(`options answered ${response.status}`);
  return response.json();
}

function send(form, credential) {
  form.elements.credential.value = JSON.stringify(credential.toJSON());
  form.submit();
}

function report(form, error) {
  if (error.name === "AbortError") return; // replaced by another request: nothing to say
  const status = form.querySelector("[data-passkey-status]");
  // NotAllowedError: the person cancelled, or let the time run out.
  status.textContent =
    error.name === "NotAllowedError" ? status.dataset.cancelled : status.dataset.failed;
  status.hidden = false;
}

function offerToAdd(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(await optionsFor(form));
      send(form, await navigator.credentials.create({ publicKey }));
    } catch (error) {
      report(form, error);
    }
  });
}

let pending = null; // the autofill request, cancelled when the person presses the button

// The server accepts an answer to a sign-in challenge for five minutes. An autofill request
// waits as long as the page stays open, so one older than this is renewed when the person
// comes back to the email field: a passkey picked then answers a challenge that still counts.
const RENEW_AUTOFILL_AFTER_MS = 4 * 60 * 1000;

async function signIn(form, mediation) {
  pending?.abort();
  pending = new AbortController();
  const { signal } = pending;
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(await optionsFor(form));
  send(form, await navigator.credentials.get({ publicKey, mediation, signal }));
}

function offerToSignIn(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(form, "optional").catch((error) => report(form, error));
  });
  // Passkey autofill: the email field offers this site's passkeys among its suggestions.
  const email = document.querySelector('input[name="email"]');
  if (!email || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return;
  PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
    if (!available) return;
    email.setAttribute("autocomplete", `${email.getAttribute("autocomplete") || ""} webauthn`.trim());
    let autofill = null;
    let startedAt = 0;
    const offer = () => {
      signIn(form, "conditional").catch(() => {}); // dismissed or replaced: the email form stays
      autofill = pending; // set by signIn before it first waits
      startedAt = Date.now();
    };
    offer();
    email.addEventListener("focus", () => {
      // Not while the button's own request is open: that one is the person's choice.
      if (pending === autofill && Date.now() - startedAt > RENEW_AUTOFILL_AFTER_MS) offer();
    });
  });
}

// A passkey this site no longer knows (removed, or its account closed): the browser or password
// manager may drop it too, so it stops offering it (WebAuthn's Signal API, where there is one).
function forgetUnknownPasskeys() {
  if (typeof PublicKeyCredential.signalUnknownCredential !== "function") return;
  for (const element of document.querySelectorAll("[data-passkey-forget]")) {
    PublicKeyCredential.signalUnknownCredential({
      rpId: element.dataset.rpId,
      credentialId: element.dataset.passkeyForget,
    }).catch(() => {}); // nothing to forget, or not allowed: the page is right either way
  }
}

// On /account/: the passkeys this account still has, and the address they go by, so that a
// password manager drops ones removed elsewhere and shows a changed address.
function tellWhatIsCurrent() {
  for (const element of document.querySelectorAll("[data-passkey-account]")) {
    const { rpId, userId, name, displayName, accepted } = element.dataset;
    if (typeof PublicKeyCredential.signalAllAcceptedCredentials === "function") {
      const allAcceptedCredentialIds = accepted.split(" ").filter(Boolean);
      PublicKeyCredential.signalAllAcceptedCredentials({ rpId, userId, allAcceptedCredentialIds })
        .catch(() => {});
    }
    if (typeof PublicKeyCredential.signalCurrentUserDetails === "function") {
      PublicKeyCredential.signalCurrentUserDetails({ rpId, userId, name, displayName })
        .catch(() => {});
    }
  }
}

if (supported) {
  forgetUnknownPasskeys();
  tellWhatIsCurrent();
  for (const element of document.querySelectorAll("[data-passkey-section]")) {
    element.hidden = false;
  }
  for (const form of document.querySelectorAll("form[data-passkey]")) {
    form.hidden = false;
    if (form.dataset.passkey === "add") offerToAdd(form);
    if (form.dataset.passkey === "sign-in") offerToSignIn(form);
  }
}
