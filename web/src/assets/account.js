// The pages account mails link to, their tokens read from the fragment (so
// they never reach a server log) and then removed from the address bar:
// - /reset-password: asks for a reset link, or sets a new password with
//   the link's token;
// - /verify-email: signs in to the account, confirms the address with the
//   link's token on that session, and signs out again. Opening the link
//   alone changes nothing (mail scanners open links).

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const say = (text) => ($("outcome").textContent = text);

async function post(path, body, bearer) {
  const headers = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(`/api/v1${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

function resetPassword() {
  $("choose").hidden = false;
  $("choose-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, answer } = await post("/auth/password-reset/confirm", {
      token,
      password: $("choose-password").value,
    });
    if (ok) {
      $("choose").hidden = true;
      say("Your password is changed, and you are signed out everywhere. Sign in with the new one.");
    } else {
      say(answer.error ?? "That did not work; ask for a new link.");
    }
  });
}

function askForReset() {
  $("ask").hidden = false;
  $("ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, status } = await post("/auth/password-reset", { email: $("ask-email").value });
    say(ok ? "If this address has an account, a link is on its way."
      : status === 429 ? "Too many attempts; wait a minute." : "That did not work; check the address.");
  });
}

function verifyEmail() {
  $("verify").hidden = false;
  $("verify-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const signIn = await post("/auth/login", {
      email: $("verify-email").value,
      password: $("verify-password").value,
    });
    if (!signIn.ok) {
      say(signIn.status === 429 ? "Too many attempts; wait a minute."
        : signIn.answer.error ?? "That did not work; check the email and password.");
      return;
    }
    const bearer = signIn.answer.access_token;
    const { ok, answer } = await post("/auth/verify-email", { token }, bearer);
    // This page's session was only for the confirmation.
    await post("/auth/logout", {}, bearer).catch(() => {});
    if (ok) {
      $("verify").hidden = true;
      say(`${answer.email} is confirmed: parcels sent to it now show in your account.`);
    } else {
      say(answer.error ?? "That did not work; ask for a new link.");
    }
  });
}

const page = location.pathname.replace(/\/+$/, "");
if (token) history.replaceState(null, "", location.pathname);
if (page === "/verify-email") {
  if (token) verifyEmail();
  else say("This page needs the link from the mail; sign in and ask for a new one if it is lost.");
} else if (token) {
  resetPassword();
} else {
  askForReset();
}
