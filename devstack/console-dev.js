// DEV ONLY: what the local stack adds to the agent console it serves (devstack/demo.py injects this module into
// the page; Appwrite never serves it, and the console's own code knows nothing of it).
// - The sign-in form names the dev users and the dev password `make run` printed.
// - The transfer box offers the dev users before any of them has been seen in a list.
// - <body data-refreshes> counts the page's refreshes, so the browser tests can wait for one: the page writes
//   #refresh-status exactly once per refresh while an agent is signed in.
const DEV_USERS = ["agent-alice", "agent-bob", "admin-ada"];
const HINT = "Local stack: agent-alice@example.test (or agent-bob, admin-ada) with the dev password make run printed";

function hint() {
  const who = document.getElementById("who");
  if (who.querySelector("form.signin") && !who.querySelector(".hint")) {
    const span = document.createElement("span");
    span.className = "hint";
    span.textContent = HINT;
    who.append(span);
  }
}

function devAgents() {
  const list = document.getElementById("agents");
  const have = new Set([...list.options].map((o) => o.value));
  const missing = DEV_USERS.filter((a) => !have.has(a));
  if (!missing.length) return;
  const values = [...have, ...missing].sort();
  list.replaceChildren(...values.map((value) => Object.assign(document.createElement("option"), { value })));
}

let refreshes = 0;
function counted() {
  if (!document.getElementById("signed-in")) return;
  refreshes += 1;
  document.body.dataset.refreshes = String(refreshes);
}

hint();
devAgents();
new MutationObserver(hint).observe(document.getElementById("who"), { childList: true });
new MutationObserver(devAgents).observe(document.getElementById("agents"), { childList: true });
new MutationObserver(counted).observe(document.getElementById("refresh-status"),
                                      { childList: true, characterData: true, subtree: true });
