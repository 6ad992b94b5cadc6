// Write actions of the RAG platform page (release, promote, archive): a JSON POST to the page's
// API with the reason; the browser sends the Airflow UI's session cookie, the API checks it.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.action");
  if (!form) return;
  event.preventDefault();
  const root = document.body.dataset.root;
  const status = document.getElementById("action-status");
  const reason = new FormData(form).get("reason");
  const response = await fetch(`${root}api/${form.dataset.action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ reason }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    status.textContent = "Done.";
    window.location.reload();
  } else {
    status.textContent = `Refused (${response.status}): ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}`;
  }
});
