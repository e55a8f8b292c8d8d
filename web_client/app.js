// What every page of the web app shares: the session (cookie + CSRF token), API calls, the top bar, messages.
import {LANGS, applyI18n, errorText, lang, setLang, t} from "/i18n.js";

let csrfToken = null;
let bearerKey = null;  // only when the page was opened with ?api_key= (a program's or the owner's own bookmark)

export function useApiKey(key) { bearerKey = key || null; }

export async function session() {
  if (bearerKey) return null;
  const resp = await fetch("/v1/auth/session", {credentials: "same-origin"}).catch(() => null);
  if (!resp || !resp.ok) return null;
  const body = await resp.json();
  csrfToken = body.csrf_token;
  return body;
}

export async function requireSession() {
  const s = await session();
  if (!s && !bearerKey) {
    location.href = "/?next=" + encodeURIComponent(location.pathname + location.search);
    throw {code: "not_logged_in", message: "not logged in"};
  }
  return s;
}

export async function api(path, {method = "GET", json, body, headers = {}} = {}) {
  const h = {...headers};
  if (bearerKey) h.Authorization = "Bearer " + bearerKey;
  else if (method !== "GET" && csrfToken) h["X-CSRF-Token"] = csrfToken;
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  let resp;
  try {
    resp = await fetch(path, {method, headers: h, body, credentials: "same-origin"});
  } catch {
    throw {code: "network", message: "network error"};
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => ({})) : await resp.blob();
  if (!resp.ok) throw (data && data.error) || {code: `http_${resp.status}`, message: resp.statusText};
  return data;
}

// A status line: each call replaces what was there, so an old error never sits under a later success.
export function say(el, text, kind = "ok") {
  el.textContent = text;
  el.className = "msg " + kind;
}

export function sayError(el, err) { say(el, errorText(err), "err"); }

const PAGES = [["/app", "nav_app"], ["/voices", "nav_voices"], ["/tts", "nav_tts"], ["/vc", "nav_vc"],
               ["/docs/protocol", "nav_docs"]];

export function topBar({loggedIn = true} = {}) {
  const bar = document.createElement("header");
  bar.className = "top";
  const logo = document.createElement("a");
  logo.className = "logo";
  logo.href = loggedIn ? "/app" : "/";
  logo.textContent = "Dublê";
  bar.append(logo);
  if (loggedIn) {
    const nav = document.createElement("nav");
    nav.setAttribute("aria-label", "menu");
    for (const [href, key] of PAGES) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = t(key);
      if (location.pathname === href) a.setAttribute("aria-current", "page");
      nav.append(a);
    }
    bar.append(nav);
  }
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.htmlFor = "lang-pick";
  label.textContent = t("language");
  label.hidden = true;
  const pick = document.createElement("select");
  pick.id = "lang-pick";
  pick.setAttribute("aria-label", t("language"));
  for (const [code, name] of Object.entries(LANGS)) pick.add(new Option(name, code, false, code === lang()));
  pick.onchange = () => { setLang(pick.value); location.reload(); };
  bar.append(label, pick);
  if (loggedIn && !bearerKey) {
    const out = document.createElement("button");
    out.id = "logout";
    out.className = "secondary";
    out.textContent = t("nav_logout");
    out.onclick = async () => {
      await api("/v1/auth/logout", {method: "POST"}).catch(() => {});
      location.href = "/";
    };
    bar.append(out);
  }
  document.body.prepend(bar);
  applyI18n();
}
