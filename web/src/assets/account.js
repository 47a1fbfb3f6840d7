// /reset-password: asks for a reset link, or sets a new password with the
// link's token (read from the fragment, so it never reaches a server log,
// then removed from the address bar).

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const say = (text) => ($("outcome").textContent = text);

async function post(path, body) {
  const response = await fetch(`/api/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

if (token) {
  history.replaceState(null, "", location.pathname);
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
} else {
  $("ask").hidden = false;
  $("ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, status } = await post("/auth/password-reset", { email: $("ask-email").value });
    say(ok ? "If this address has an account, a link is on its way."
      : status === 429 ? "Too many attempts; wait a minute." : "That did not work; check the address.");
  });
}
