//! The emulator's HTML pages: sign-in (one button per user; a password field only for users
//! that have one), consent, the device-code entry page, errors, and `form_post` answers.
//!
//! Server-rendered, usable without JavaScript (the `form_post` page submits itself with a
//! script and has a button for when scripts are off) and accessible: every field has a label,
//! the order of the document is the focus order, errors are announced (`role="alert"`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AadError;

/// One user on the sign-in page.
pub(crate) struct UserChoice {
    pub(crate) upn: String,
    pub(crate) display_name: String,
    pub(crate) has_password: bool,
    /// `login_hint` or the signed-in user: listed first, focused.
    pub(crate) preselected: bool,
}

/// The sign-in page of a pending request `flow`, posting to `action`.
pub(crate) fn sign_in(
    action: &str,
    flow: &str,
    app_name: &str,
    users: &[UserChoice],
    error: Option<&str>,
) -> Response {
    let mut body = format!(
        "<h1>Sign in</h1>\n<p>to continue to <strong>{}</strong></p>\n",
        escape(app_name)
    );
    if let Some(e) = error {
        body.push_str(&format!(
            "<p role=\"alert\" class=\"error\">{}</p>\n",
            escape(e)
        ));
    }
    if users.is_empty() {
        body.push_str("<p>This tenant has no users. Add users to the emulator to sign in.</p>\n");
    }
    body.push_str("<ul class=\"users\">\n");
    let mut ordered: Vec<&UserChoice> = users.iter().collect();
    ordered.sort_by_key(|u| !u.preselected);
    for (i, u) in ordered.into_iter().enumerate() {
        let focus = if i == 0 { " autofocus" } else { "" };
        let password = if u.has_password {
            format!(
                "<label for=\"password-{i}\">Password for {name}</label>\n\
                 <input type=\"password\" id=\"password-{i}\" name=\"password\" \
                 autocomplete=\"current-password\" required{focus}>\n",
                name = escape(&u.display_name),
            )
        } else {
            String::new()
        };
        let button_focus = if u.has_password { "" } else { focus };
        body.push_str(&format!(
            "<li><form method=\"post\" action=\"{action}\">\n\
             <input type=\"hidden\" name=\"flow\" value=\"{flow}\">\n\
             <input type=\"hidden\" name=\"user\" value=\"{upn}\">\n\
             {password}\
             <button type=\"submit\"{button_focus}>Sign in as {name} <span class=\"upn\">{upn}</span></button>\n\
             </form></li>\n",
            action = escape(action),
            flow = escape(flow),
            upn = escape(&u.upn),
            name = escape(&u.display_name),
        ));
    }
    body.push_str("</ul>\n");
    page("Sign in to your account", &body, StatusCode::OK)
}

/// The consent page: `app_name` asks for `scopes` on `resource_name`.
pub(crate) fn consent(
    action: &str,
    flow: &str,
    app_name: &str,
    resource_name: &str,
    scopes: &[String],
) -> Response {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>\n", escape(s)))
        .collect();
    let body = format!(
        "<h1>Permissions requested</h1>\n\
         <p><strong>{app}</strong> would like to access <strong>{resource}</strong>:</p>\n\
         <ul>\n{items}</ul>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"flow\" value=\"{flow}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"accept\" autofocus>Accept</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>\n\
         </form>\n",
        app = escape(app_name),
        resource = escape(resource_name),
        action = escape(action),
        flow = escape(flow),
    );
    page("Permissions requested", &body, StatusCode::OK)
}

/// The page where a user enters a device code.
pub(crate) fn device_code_entry(action: &str, error: Option<&str>) -> Response {
    let alert = error
        .map(|e| format!("<p role=\"alert\" class=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Enter code</h1>\n{alert}\
         <p>Enter the code displayed on your app or device.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <label for=\"otc\">Code</label>\n\
         <input type=\"text\" id=\"otc\" name=\"otc\" autocomplete=\"one-time-code\" \
         autocapitalize=\"characters\" required autofocus>\n\
         <button type=\"submit\">Next</button>\n\
         </form>\n",
        action = escape(action),
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page("Enter code", &body, status)
}

/// The end of a device-code sign-in.
pub(crate) fn device_code_done(app_name: &str, approved: bool) -> Response {
    let body = if approved {
        format!(
            "<h1>You have signed in</h1>\n<p>You have signed in to <strong>{}</strong> on \
             your device. You may now close this window.</p>\n",
            escape(app_name)
        )
    } else {
        "<h1>Sign-in cancelled</h1>\n<p>You may now close this window.</p>\n".to_owned()
    };
    page("Device sign-in", &body, StatusCode::OK)
}

/// After sign-out, when there is no registered place to return to.
pub(crate) fn signed_out() -> Response {
    let body = "<h1>You signed out of your account</h1>\n<p>It's a good idea to close all \
                browser windows.</p>\n";
    page("Signed out", body, StatusCode::OK)
}

/// An error Entra shows on a page rather than sending to the redirect URI.
pub(crate) fn error(e: &AadError) -> Response {
    let body = format!(
        "<h1>Sorry, but we're having trouble signing you in.</h1>\n\
         <p role=\"alert\"><strong>AADSTS{}</strong>: {}</p>\n",
        e.code,
        escape(&e.message)
    );
    page("Sign in error", &body, e.status)
}

/// A `response_mode=form_post` answer: a form to `uri` with `params`, submitted by script or
/// by its button.
pub(crate) fn form_post(uri: &str, params: &[(&str, String)]) -> Response {
    let fields: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<form method=\"post\" action=\"{}\" id=\"answer\">\n{fields}\
         <noscript><p>Script is disabled. Press Continue.</p></noscript>\n\
         <button type=\"submit\">Continue</button>\n</form>\n\
         <script>document.getElementById('answer').submit();</script>\n",
        escape(uri)
    );
    page("Working...", &body, StatusCode::OK)
}

fn page(title: &str, body: &str, status: StatusCode) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} - Entra emulator</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main>\n<p class=\"banner\">Entra emulator: a local development sign-in, not \
         Microsoft's.</p>\n{body}</main>\n</body>\n</html>\n",
        title = escape(title),
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;box-shadow:0 2px 6px #0003}\
.banner{font-size:.8rem;color:#555}.error{color:#a00}ul.users{list-style:none;padding:0}\
ul.users li{margin:0 0 1rem}label{display:block;margin:.3rem 0}\
input[type=password],input[type=text]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:.4rem;padding:.5rem 1rem;background:#0067b8;color:#fff;border:0;cursor:pointer}\
button:focus,input:focus{outline:3px solid #000;outline-offset:2px}.upn{display:block;font-size:.8rem}";

/// HTML-escape text for an element or a quoted attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
