//! Answers in the form the poster understands: JSON for scripts, and for a browser's
//! plain form post a redirect (to the thank-you page, or back to the form with the
//! fields in error) or a short page. Cross-origin scripts of allowed origins get the
//! CORS headers they need.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::config::FormConfig;

/// The query parameter that carries the fields in error back to the form's page.
pub const ERRORS_PARAM: &str = "form_errors";

pub struct Reply {
    json: bool,
    /// The poster's origin when it may post here (echoed for CORS).
    cors_origin: Option<String>,
    pub origin_allowed: bool,
    /// The page the form is on (the Referer), kept as the submission's page.
    pub page_url: String,
    /// Where a browser goes back to with its errors: the form's page when its origin
    /// is allowed, else the thank-you page.
    back: Option<String>,
    redirect: Option<String>,
}

pub fn status(code: StatusCode) -> Response {
    code.into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

impl Reply {
    pub fn new(form: &FormConfig, headers: &HeaderMap) -> Self {
        let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
        let accept = header_str(headers, header::ACCEPT).unwrap_or("");
        let json = content_type.starts_with("application/json")
            || (accept.contains("application/json") && !accept.contains("text/html"));
        let origin = header_str(headers, header::ORIGIN);
        let origin_allowed = origin.is_none_or(|o| form.allows_origin(o));
        let page_url: String = header_str(headers, header::REFERER)
            .filter(|r| r.len() <= 2000)
            .unwrap_or("")
            .to_owned();
        let back = origin_of(&page_url)
            .filter(|o| form.allows_origin(o))
            .map(|_| page_url.clone())
            .or_else(|| form.redirect.clone());
        Reply {
            json,
            cors_origin: origin.filter(|_| origin_allowed).map(str::to_owned),
            origin_allowed,
            page_url,
            back,
            redirect: form.redirect.clone(),
        }
    }

    fn finish(&self, mut response: Response) -> Response {
        if let Some(origin) = self.cors_origin.as_deref()
            && let Ok(value) = HeaderValue::from_str(origin)
        {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        response
    }

    fn see_other(&self, location: &str) -> Response {
        match HeaderValue::from_str(location) {
            Ok(value) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, value);
                self.finish(response)
            }
            Err(_) => self.page(StatusCode::OK, "Thank you."),
        }
    }

    fn page(&self, code: StatusCode, text: &str) -> Response {
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>{code}</title><p>{}</p>",
            escape(text)
        );
        self.finish(
            (
                code,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response(),
        )
    }

    fn json(&self, code: StatusCode, body: serde_json::Value) -> Response {
        self.finish((code, axum::Json(body)).into_response())
    }

    /// Accepted: the submission id for a script, the thank-you page for a browser.
    /// `None` (a bot) looks the same from outside.
    pub fn success(&self, id: Option<&str>) -> Response {
        if self.json {
            let id = id.map_or_else(decoy_id, str::to_owned);
            return self.json(StatusCode::CREATED, json!({ "submission_id": id }));
        }
        match &self.redirect {
            Some(to) => self.see_other(to),
            None => self.page(StatusCode::OK, "Thank you. We will get back to you soon."),
        }
    }

    /// 422 listing every field in error; a browser is sent back to the form with them.
    pub fn invalid(&self, fields: &BTreeMap<String, String>) -> Response {
        if self.json {
            let body = json!({ "error": "some fields are not valid", "fields": fields });
            return self.json(StatusCode::UNPROCESSABLE_ENTITY, body);
        }
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        match &self.back {
            Some(back) => self.see_other(&with_errors(back, &names)),
            None => {
                let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                self.page(StatusCode::UNPROCESSABLE_ENTITY, &list.join("; "))
            }
        }
    }

    pub fn error(&self, code: StatusCode, message: &str) -> Response {
        if self.json {
            return self.json(code, json!({ "error": message }));
        }
        self.page(code, message)
    }

    pub fn too_many(&self, wait_secs: u64) -> Response {
        let mut response = self.error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many posts, try again later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
        response
    }

    pub fn unavailable(&self) -> Response {
        let mut response = self.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not accepted now, please post again",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
    }

    /// The CORS preflight: allowed origins may post JSON with an idempotency key.
    pub fn preflight(&self) -> Response {
        if !self.origin_allowed || self.cors_origin.is_none() {
            return status(StatusCode::FORBIDDEN);
        }
        let mut response = self.finish(StatusCode::NO_CONTENT.into_response());
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, idempotency-key"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    }
}

/// `url` with the fields in error added to its query (before any `#fragment`).
fn with_errors(url: &str, names: &[&str]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, format!("#{fragment}")),
        None => (url, String::new()),
    };
    let glue = if base.contains('?') { '&' } else { '?' };
    format!("{base}{glue}{ERRORS_PARAM}={}{fragment}", names.join(","))
}

/// An id that looks like a real one, for bots.
fn decoy_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:032x}",
        nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_go_into_the_query_before_the_fragment() {
        assert_eq!(
            with_errors("https://s.example/c?x=1#form", &["email", "phone"]),
            "https://s.example/c?x=1&form_errors=email,phone#form"
        );
        assert_eq!(
            with_errors("https://s.example/c", &["name"]),
            "https://s.example/c?form_errors=name"
        );
    }

    #[test]
    fn origins_are_cut_from_urls() {
        assert_eq!(
            origin_of("https://shop.example/contact?x=1"),
            Some("https://shop.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
