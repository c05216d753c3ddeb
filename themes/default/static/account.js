/*
 * account.js: the account screens (register, verify, welcome, sign in, reset password), the
 * signed-in state in the header ([data-account-nav]) and the download buttons on transcript pages
 * (a.download[data-video][data-part]).
 *
 * Progressive: every page reads fine without it; it only talks to /api/*. No dependencies. Strings
 * come from the page (<script type="application/json" id="account-i18n">, emitted by the account
 * templates in the page language); pages without them fetch them from the sign-in screen once.
 * Emails are kept in sessionStorage between screens, never in URLs or logs.
 */
(function () {
  "use strict";
  if (window.PressroomAccount) return; // loaded twice: keep the first
  var doc = document;
  var lang = (doc.documentElement.getAttribute("lang") || "en").toLowerCase();
  var STORE_EMAIL = "pressroom.account.email";
  var STORE_SENT = "pressroom.account.codeSentAt.";
  var STORE_STRINGS = "pressroom.account.strings.";
  var COOLDOWN_SECONDS = 60;

  /* ---------- return path: only ever a page of this site ---------- */

  /**
   * `p` if it is a path of this site (starts with one "/", not "//" or "/\", no scheme, no control
   * characters, no backslash), else null.
   */
  function safeReturnPath(p) {
    if (typeof p !== "string" || p.length === 0 || p.length > 2048) return null;
    if (p.charAt(0) !== "/") return null;
    if (p.charAt(1) === "/" || p.charAt(1) === "\\") return null;
    if (/[\u0000-\u001f\u007f-\u009f\\]/.test(p)) return null;
    // A scheme cannot follow a leading "/", but percent-encoded tricks can fool naive servers.
    if (/^\/(%2f|%5c)/i.test(p)) return null;
    try {
      var base = (window.location && window.location.origin && window.location.origin !== "null")
        ? window.location.origin : "http://localhost";
      var u = new URL(p, base);
      if (u.origin !== new URL(base).origin) return null;
    } catch (e) {
      return null;
    }
    return p;
  }

  function params() {
    return new URLSearchParams(window.location.search);
  }

  /** Where to go back to: the validated ?return=, else this language's home. */
  function returnPath() {
    return safeReturnPath(params().get("return")) || "/" + lang + "/";
  }

  /** An account screen URL that keeps the return path along. */
  function screenUrl(name, extra) {
    var q = new URLSearchParams();
    var r = safeReturnPath(params().get("return"));
    if (r) q.set("return", r);
    if (extra) Object.keys(extra).forEach(function (k) { q.set(k, extra[k]); });
    var qs = q.toString();
    return "/" + lang + "/account/" + name + "/" + (qs ? "?" + qs : "");
  }

  /* ---------- strings ---------- */

  var strings = null;

  function readStrings(root) {
    var el = root.getElementById ? root.getElementById("account-i18n") : null;
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  /** The page's strings, or (pages without them) the sign-in screen's, cached for the session. */
  function loadStrings() {
    strings = readStrings(doc);
    if (strings) return Promise.resolve(strings);
    var key = STORE_STRINGS + lang;
    try {
      var cached = sessionStorage.getItem(key);
      if (cached) { strings = JSON.parse(cached); return Promise.resolve(strings); }
    } catch (e) { /* storage disabled */ }
    return fetch("/" + lang + "/account/signin/", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        strings = readStrings(new DOMParser().parseFromString(html, "text/html")) || {};
        try { sessionStorage.setItem(key, JSON.stringify(strings)); } catch (e) { /* ignore */ }
        return strings;
      })
      .catch(function () { strings = {}; return strings; });
  }

  /** Translated string `key` with `{name}` placeholders filled from `vars`. */
  function t(key, vars) {
    var s = (strings && strings[key]) || (strings && strings["errors.unexpected"]) || key;
    return s.replace(/\{(\w+)\}/g, function (m, name) {
      return vars && Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
    });
  }

  /* ---------- API ---------- */

  /** Calls /api/{path}; resolves to {ok, status, data, error:{code, message, rules, retryAfter}}. */
  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch("/api/" + path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) return { ok: true, status: res.status, data: data };
        var error = (data && data.error) || { code: res.status >= 500 ? "unexpected" : "bad_request" };
        var retry = parseInt(res.headers.get("Retry-After") || "", 10);
        error.retryAfter = isNaN(retry) ? null : retry;
        return { ok: false, status: res.status, data: data, error: error };
      });
    }, function () {
      return { ok: false, status: 0, data: null, error: { code: "network" } };
    });
  }

  /** The message for an API error, translated by its code. */
  function errorMessage(error) {
    var code = error && error.code;
    if (code === "rate_limited") return t("errors.rate_limited", { seconds: error.retryAfter || COOLDOWN_SECONDS });
    if (code && strings && strings["errors." + code]) return t("errors." + code);
    return t("errors.unexpected");
  }

  var mePromise = null;
  /** GET /api/me once per page: {email, verified, subscribed} or null when signed out. */
  function me(refresh) {
    if (!mePromise || refresh) {
      mePromise = api("GET", "me").then(function (r) { return r.ok ? r.data : null; });
    }
    return mePromise;
  }

  /* ---------- forms: errors tied to fields, announced ---------- */

  function field(form, name) {
    return form.querySelector('[name="' + name + '"]');
  }

  function setFieldError(form, name, message) {
    var input = field(form, name);
    var err = form.querySelector('[data-error-for="' + name + '"]');
    if (!input || !err) return false;
    if (message) {
      input.setAttribute("aria-invalid", "true");
      err.textContent = "";
      var prefix = doc.createElement("span");
      prefix.className = "account-error-prefix";
      prefix.textContent = t("error_prefix") + " ";
      err.appendChild(prefix);
      err.appendChild(doc.createTextNode(message));
    } else {
      input.removeAttribute("aria-invalid");
      err.textContent = "";
    }
    return true;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { setFieldError(form, el.getAttribute("data-error-for"), ""); });
    setStatus(form, "");
  }

  /**
   * Announces `message` in the form's live region. `quiet`: the message is already shown next to
   * its field, so the region only speaks it (visually hidden) instead of showing it twice.
   */
  function setStatus(form, message, kind, quiet) {
    var s = form.querySelector("[data-status]");
    if (!s) return;
    s.textContent = message || "";
    s.setAttribute("data-kind", kind || "error");
    s.classList.toggle("visually-hidden", !!quiet);
  }

  /** Shows an API error on its field when it has one, else in the form's live status. */
  function showApiError(form, error, fieldFor) {
    var message = errorMessage(error);
    var name = fieldFor && fieldFor[error.code];
    if (name && setFieldError(form, name, message)) {
      setStatus(form, message, "error", true);
      focusField(form, name);
      return;
    }
    setStatus(form, message);
  }

  function focusField(form, name) {
    var input = field(form, name);
    if (input) input.focus();
  }

  /** Checks required / email / code fields; shows every error, focuses the first. */
  function validate(form, names) {
    var first = null;
    names.forEach(function (name) {
      var input = field(form, name);
      if (!input) return;
      var v = input.value.trim();
      var msg = "";
      if (!v) msg = t("errors.required");
      else if (name === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) msg = t("errors.invalid_email");
      else if (name === "code" && !/^\d{6}$/.test(v.replace(/\s+/g, ""))) msg = t("errors.code_format");
      else if (name === "password" && input.closest(".account-field").querySelector("[data-rules-for]")) {
        if (!allRulesMet(input)) msg = t("errors.weak_password");
      }
      setFieldError(form, name, msg);
      if (msg && !first) first = name;
    });
    if (first) {
      setStatus(form, form.querySelector('[data-error-for="' + first + '"]').textContent, "error", true);
      focusField(form, first);
    }
    return !first;
  }

  /** Disables the submit button while a request runs and says so. */
  function busy(form, on) {
    var b = form.querySelector('[type="submit"]');
    if (!b) return;
    if (on) {
      b.setAttribute("data-label", b.textContent);
      b.textContent = t("working");
      b.disabled = true;
      form.setAttribute("aria-busy", "true");
    } else {
      b.textContent = b.getAttribute("data-label") || b.textContent;
      b.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  function onSubmit(form, handler) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      clearErrors(form);
      handler();
    });
  }

  function value(form, name) {
    var input = field(form, name);
    return input ? input.value.trim() : "";
  }

  /* ---------- password rules: mirror the server policy ---------- */

  var RULES = {
    min_length: function (p, min) { return Array.from(p).length >= min; },
    no_spaces: function (p) { return p.length > 0 && !/\s/.test(p); },
    // Same tests as the server (functions::domain::PasswordPolicy::failures).
    uppercase: function (p) { return /\p{Uppercase}/u.test(p); },
    lowercase: function (p) { return /\p{Lowercase}/u.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    symbol: function (p) { return /[^\p{Alphabetic}\p{N}\s]/u.test(p); }
  };

  function rulesBox(input) {
    return doc.querySelector('[data-rules-for="' + input.id + '"]');
  }

  function updateRules(input) {
    var box = rulesBox(input);
    if (!box) return true;
    var min = parseInt(box.getAttribute("data-min-length"), 10) || 12;
    var all = true;
    box.querySelectorAll("[data-rule]").forEach(function (li) {
      var check = RULES[li.getAttribute("data-rule")];
      var met = check ? check(input.value, min) : true;
      all = all && met;
      li.setAttribute("data-met", met ? "true" : "false");
      var state = li.querySelector(".account-rule-state");
      if (state) state.textContent = "(" + t(met ? "rules.met" : "rules.unmet") + ")";
    });
    return all;
  }

  function allRulesMet(input) {
    return updateRules(input);
  }

  function initPasswordFields() {
    doc.querySelectorAll("[data-rules-for]").forEach(function (box) {
      var input = doc.getElementById(box.getAttribute("data-rules-for"));
      if (!input) return;
      updateRules(input);
      input.addEventListener("input", function () {
        updateRules(input);
        if (input.getAttribute("aria-invalid") === "true" && allRulesMet(input)) {
          setFieldError(input.form, "password", "");
        }
      });
    });
    doc.querySelectorAll("[data-reveal]").forEach(function (box) {
      var input = doc.getElementById(box.getAttribute("data-reveal"));
      box.addEventListener("change", function () { if (input) input.type = box.checked ? "text" : "password"; });
    });
  }

  /** weak_password from the server: mark the rules it names, tie the message to the field. */
  function showWeakPassword(form, error) {
    var rules = Array.isArray(error.rules) ? error.rules : [];
    var names = rules.map(function (r) { return typeof r === "string" ? r : (r && (r.rule || r.code || r.name)) || ""; });
    var extra = names.filter(function (n) { return n && !(RULES[n]); })
      .map(function (n) { return strings && strings["rules." + n] ? t("rules." + n) : ""; })
      .filter(Boolean);
    var msg = t("errors.weak_password") + (extra.length ? " " + extra.join("; ") + "." : "");
    setFieldError(form, "password", msg);
    setStatus(form, msg, "error", true);
    focusField(form, "password");
  }

  /* ---------- steps, focus ---------- */

  /** Shows one step of a screen, hides the others, moves focus to its heading. */
  function showStep(screen, name, focus) {
    var target = null;
    screen.querySelectorAll("[data-step]").forEach(function (s) {
      var on = s.getAttribute("data-step") === name;
      s.hidden = !on;
      if (on) target = s;
    });
    if (target && focus !== false) {
      var h = target.querySelector("h1, h2");
      if (h) h.focus();
    }
    return target;
  }

  /* ---------- resend with a visible cool-down ---------- */

  function sentAt(purpose) {
    try { return parseInt(sessionStorage.getItem(STORE_SENT + purpose) || "0", 10) || 0; } catch (e) { return 0; }
  }

  function markSent(purpose, waitSeconds) {
    // Remember when the next code may be asked for, so the cool-down survives a page change.
    var until = Date.now() + (waitSeconds || COOLDOWN_SECONDS) * 1000;
    try { sessionStorage.setItem(STORE_SENT + purpose, String(until)); } catch (e) { /* ignore */ }
  }

  function initResend(container, getEmail, onError) {
    var purpose = container.getAttribute("data-resend");
    var button = container.querySelector("[data-resend-button]");
    var countdown = container.querySelector("[data-countdown]");
    var timer = null;

    function tick() {
      var left = Math.ceil((sentAt(purpose) - Date.now()) / 1000);
      if (left > 0) {
        button.disabled = true;
        button.setAttribute("aria-disabled", "true");
        countdown.hidden = false;
        countdown.textContent = t("verify.resend_wait", { seconds: left });
      } else {
        button.disabled = false;
        button.removeAttribute("aria-disabled");
        countdown.hidden = true;
        countdown.textContent = "";
        if (timer) { clearInterval(timer); timer = null; }
      }
    }

    function start() {
      tick();
      if (!timer && sentAt(purpose) > Date.now()) timer = setInterval(tick, 1000);
    }

    button.addEventListener("click", function () {
      var email = getEmail();
      if (!email) { onError({ code: "invalid_email" }); return; }
      button.disabled = true;
      api("POST", "resend", { email: email, purpose: purpose }).then(function (r) {
        if (r.ok) {
          markSent(purpose);
          onError(null, t("verify.resent"));
        } else {
          if (r.error.code === "rate_limited") markSent(purpose, r.error.retryAfter || COOLDOWN_SECONDS);
          onError(r.error);
        }
        start();
      });
    });
    start();
    return { start: start };
  }

  /* ---------- email kept between screens (this tab only) ---------- */

  function rememberEmail(email) {
    try { sessionStorage.setItem(STORE_EMAIL, email); } catch (e) { /* ignore */ }
  }
  function rememberedEmail() {
    try { return sessionStorage.getItem(STORE_EMAIL) || ""; } catch (e) { return ""; }
  }

  /* ---------- screens ---------- */

  function initRegister(screen) {
    var form = screen.querySelector('[data-form="signup"]');
    onSubmit(form, function () {
      if (!validate(form, ["email", "password"])) return;
      var email = value(form, "email");
      busy(form, true);
      api("POST", "signup", { email: email, password: field(form, "password").value, lang: lang }).then(function (r) {
        busy(form, false);
        if (r.ok) {
          rememberEmail(email);
          markSent("signup");
          window.location.assign(screenUrl("verify"));
        } else if (r.error.code === "weak_password") {
          showWeakPassword(form, r.error);
        } else {
          showApiError(form, r.error, { invalid_email: "email" });
        }
      });
    });
  }

  function initVerify(screen) {
    var form = screen.querySelector('[data-form="verify"]');
    var email = rememberedEmail();
    var emailField = form.querySelector('[data-field="email"]');
    var sent = screen.querySelector("[data-sent-text]");
    if (email) {
      field(form, "email").value = email;
      emailField.hidden = true;
      sent.textContent = t("verify.sent_to", { email: email });
    }
    function currentEmail() { return value(form, "email"); }
    initResend(screen.querySelector("[data-resend]"), currentEmail, function (error, ok) {
      if (error && error.code === "invalid_email" && emailField.hidden === false) {
        setFieldError(form, "email", errorMessage(error));
        focusField(form, "email");
      } else if (error) setStatus(form, errorMessage(error));
      else setStatus(form, ok, "ok");
    });
    onSubmit(form, function () {
      if (emailField.hidden && !currentEmail()) emailField.hidden = false;
      if (!validate(form, ["email", "code"])) return;
      busy(form, true);
      api("POST", "verify", { email: currentEmail(), code: value(form, "code").replace(/\s+/g, "") }).then(function (r) {
        busy(form, false);
        if (r.ok) {
          rememberEmail(currentEmail());
          window.location.assign(screenUrl("welcome"));
        } else {
          showApiError(form, r.error, { invalid_code: "code", code_expired: "code", too_many_attempts: "code", invalid_email: "email" });
        }
      });
    });
  }

  function initWelcome(screen) {
    screen.querySelectorAll("[data-return-link]").forEach(function (a) { a.setAttribute("href", returnPath()); });
    var form = screen.querySelector('[data-form="newsletter"]');
    var button = form.querySelector("[data-newsletter-button]");
    var subscribed = false;
    function render() {
      button.textContent = t(subscribed ? "welcome.unsubscribe" : "welcome.subscribe");
      button.setAttribute("data-subscribed", subscribed ? "true" : "false");
    }
    me().then(function (m) {
      if (m && m.subscribed) { subscribed = true; render(); setStatus(form, t("welcome.subscribed"), "ok"); }
    });
    onSubmit(form, function () {
      busy(form, true);
      api("POST", "newsletter", { subscribe: !subscribed }).then(function (r) {
        busy(form, false);
        if (r.ok) {
          subscribed = r.data && typeof r.data.subscribed === "boolean" ? r.data.subscribed : !subscribed;
          render();
          setStatus(form, t(subscribed ? "welcome.subscribed" : "welcome.unsubscribed"), "ok");
        } else {
          setStatus(form, errorMessage(r.error));
        }
      });
    });
  }

  function initSignin(screen) {
    var form = screen.querySelector('[data-form="login"]');
    if (params().get("reason") === "download") screen.querySelector("[data-download-prompt]").hidden = false;
    var remembered = rememberedEmail();
    if (remembered && !value(form, "email")) field(form, "email").value = remembered;
    var offer = form.querySelector("[data-verify-offer]");
    offer.querySelector("[data-verify-button]").addEventListener("click", function () {
      var email = value(form, "email");
      api("POST", "resend", { email: email, purpose: "signup" }).then(function (r) {
        rememberEmail(email);
        if (r.ok) markSent("signup");
        else if (r.error.code === "rate_limited") markSent("signup", r.error.retryAfter);
        window.location.assign(screenUrl("verify"));
      });
    });
    onSubmit(form, function () {
      offer.hidden = true;
      if (!validate(form, ["email", "password"])) return;
      var email = value(form, "email");
      busy(form, true);
      api("POST", "login", { email: email, password: field(form, "password").value }).then(function (r) {
        busy(form, false);
        if (r.ok) {
          rememberEmail(email);
          window.location.assign(returnPath());
        } else {
          if (r.error.code === "not_verified") offer.hidden = false;
          showApiError(form, r.error, { invalid_email: "email" });
          if (r.error.code === "invalid_credentials") focusField(form, "password");
        }
      });
    });
  }

  function initReset(screen) {
    var emailForm = screen.querySelector('[data-form="reset-email"]');
    var codeForm = screen.querySelector('[data-form="reset-code"]');
    var passwordForm = screen.querySelector('[data-form="reset-password"]');
    var email = "";
    var code = "";
    var remembered = rememberedEmail();
    if (remembered) field(emailForm, "email").value = remembered;

    function toCode() {
      screen.querySelector('[data-step="code"] [data-sent-text]').textContent = t("reset.code_text", { email: email });
      showStep(screen, "code", false);
      resend.start();
      focusField(codeForm, "code");
    }

    var resend = initResend(screen.querySelector("[data-resend]"), function () { return email; }, function (error, ok) {
      if (error) setStatus(codeForm, errorMessage(error));
      else setStatus(codeForm, ok, "ok");
    });

    onSubmit(emailForm, function () {
      if (!validate(emailForm, ["email"])) return;
      email = value(emailForm, "email");
      busy(emailForm, true);
      api("POST", "password-reset", { email: email, lang: lang }).then(function (r) {
        busy(emailForm, false);
        if (r.ok) {
          rememberEmail(email);
          markSent("reset");
          toCode();
        } else {
          showApiError(emailForm, r.error, { invalid_email: "email" });
        }
      });
    });

    onSubmit(codeForm, function () {
      if (!validate(codeForm, ["code"])) return;
      code = value(codeForm, "code").replace(/\s+/g, "");
      showStep(screen, "password", false);
      focusField(passwordForm, "password");
    });

    onSubmit(passwordForm, function () {
      if (!validate(passwordForm, ["password"])) return;
      busy(passwordForm, true);
      api("POST", "password-reset/confirm", { email: email, code: code, password: field(passwordForm, "password").value }).then(function (r) {
        busy(passwordForm, false);
        if (r.ok) {
          screen.querySelectorAll("[data-return-link]").forEach(function (a) { a.setAttribute("href", returnPath()); });
          showStep(screen, "done");
        } else if (r.error.code === "weak_password") {
          showWeakPassword(passwordForm, r.error);
        } else if (["invalid_code", "code_expired", "too_many_attempts"].indexOf(r.error.code) !== -1) {
          showStep(screen, "code", false);
          showApiError(codeForm, r.error, { invalid_code: "code", code_expired: "code", too_many_attempts: "code" });
        } else {
          showApiError(passwordForm, r.error, {});
        }
      });
    });
  }

  /* ---------- on every page: header state and download buttons ---------- */

  function initNav() {
    var slot = doc.querySelector("[data-account-nav]");
    me().then(function (m) {
      if (!slot) return;
      if (!m) return;
      return loadStrings().then(function () { renderNav(slot, m); });
    });
  }

  function renderNav(slot, m) {
    slot.textContent = "";
    slot.setAttribute("role", "group");
    slot.setAttribute("aria-label", t("nav.label"));
    var who = doc.createElement("span");
    who.className = "account-nav-email";
    who.textContent = t("nav.signed_in_as", { email: m.email });
    slot.appendChild(who);
    if (m.verified === false) {
      var v = doc.createElement("a");
      v.href = screenUrl("verify");
      v.className = "account-nav-verify";
      v.textContent = t("nav.verify");
      v.setAttribute("aria-label", t("nav.not_verified") + ": " + t("nav.verify"));
      slot.appendChild(doc.createTextNode(" "));
      slot.appendChild(v);
      rememberEmail(m.email);
    }
    var out = doc.createElement("button");
    out.type = "button";
    out.className = "account-nav-signout";
    out.textContent = t("nav.sign_out");
    out.addEventListener("click", function () {
      out.disabled = true;
      api("POST", "logout", {}).then(function () {
        mePromise = Promise.resolve(null);
        slot.textContent = "";
        var live = doc.createElement("span");
        live.className = "account-nav-live";
        live.setAttribute("role", "status");
        live.textContent = t("nav.signed_out");
        slot.appendChild(live);
        showSigninLinks(true);
        var signin = doc.querySelector("[data-signin-link]");
        if (signin) signin.focus();
      });
    });
    slot.appendChild(doc.createTextNode(" "));
    slot.appendChild(out);
    showSigninLinks(false);
  }

  /** The header's sign-in link, shown only to signed-out readers (inline style: theme CSS may set display). */
  function showSigninLinks(on) {
    doc.querySelectorAll("[data-signin-link]").forEach(function (a) {
      a.hidden = !on;
      a.style.display = on ? "" : "none";
    });
  }

  function initSigninLinks() {
    // The header's sign-in link comes back to the page the reader is on.
    doc.querySelectorAll("[data-signin-link]").forEach(function (a) {
      if (doc.querySelector("[data-account-screen]")) return;
      var here = safeReturnPath(window.location.pathname + window.location.search + window.location.hash);
      if (here) a.href = a.pathname + "?return=" + encodeURIComponent(here);
    });
    // Links between account screens keep the return path.
    doc.querySelectorAll("a[data-keep-return]").forEach(function (a) {
      var r = safeReturnPath(params().get("return"));
      if (r) a.href = a.pathname + "?return=" + encodeURIComponent(r);
    });
  }

  function initDownloads() {
    doc.querySelectorAll("a.download[data-video][data-part]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
        ev.preventDefault();
        me().then(function (m) {
          var here = window.location.pathname + (a.id ? "#" + a.id : "");
          if (m && m.verified !== false) {
            window.location.assign(a.href); // 303 to a signed URL; the file downloads, the page stays
          } else if (m) {
            rememberEmail(m.email);
            window.location.assign("/" + lang + "/account/verify/?return=" + encodeURIComponent(here));
          } else {
            window.location.assign("/" + lang + "/account/signin/?reason=download&return=" + encodeURIComponent(here));
          }
        });
      });
    });
  }

  var SCREENS = { register: initRegister, verify: initVerify, welcome: initWelcome, signin: initSignin, reset: initReset };

  function init() {
    initSigninLinks();
    initDownloads();
    var screen = doc.querySelector("[data-account-screen]");
    if (screen) {
      loadStrings().then(function () {
        initPasswordFields();
        var run = SCREENS[screen.getAttribute("data-account-screen")];
        if (run) run(screen);
      });
    }
    initNav(); // fetches the strings only when someone is signed in
  }

  window.PressroomAccount = { safeReturnPath: safeReturnPath };
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
