// Progressive enhancement for the admin pages: a Copy button beside a secret,
// and a confirmation before destructive forms. Every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  const secret = document.getElementById("client-secret");
  if (secret && navigator.clipboard) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Copy";
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(secret.textContent.trim());
      button.textContent = "Copied";
    });
    secret.after(button);
  }
  for (const form of document.querySelectorAll("form button.danger")) {
    form.addEventListener("click", (event) => {
      if (!window.confirm("This cannot be undone. Continue?")) event.preventDefault();
    });
  }
});
