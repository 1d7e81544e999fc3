//! A web form as visitors post it: headless Chromium loads a page from the shop's site
//! (another origin than Ringside's), fills the form in and submits it. The browser
//! lands on the shop's thank-you page, and the visitor is one lead with the submission
//! (and the page's UTM tags) on the timeline. The same form on a site that is not
//! allowed is refused by the browser's own Origin header, and stores nothing.

use std::net::SocketAddr;

use axum::response::Html;
use axum::routing::get;
use support::browser::{self, Browser};
use support::eventually;

/// Serves `page` at `/` and a thank-you page at `/thanks` on `listener`.
fn serve_site(listener: tokio::net::TcpListener, page: String) {
    let app = axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/thanks",
            get(|| async {
                Html("<h1 id=thanks>Спасибо, мы перезвоним!</h1>".to_owned())
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
}

async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

fn form_page(action: &str) -> String {
    format!(
        r#"<!doctype html><meta charset=utf-8><title>Shop</title>
<form id=order method=post action="{action}">
  <input name=name id=name> <input name=email id=email type=email> <input name=phone id=phone>
  <textarea name=message id=message></textarea>
  <input type=hidden name=utm_source value=yandex> <input type=hidden name=utm_campaign value=windows-autumn>
  <input name=website style="display:none">
  <button id=send type=submit>Отправить</button>
</form>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_posts_the_form_from_the_shops_site_in_a_real_browser() {
    if !browser::present() {
        return;
    }
    // The shop's site must be known before Ringside starts: it names the allowed origin.
    let (shop_listener, shop) = bind().await;
    let (stranger_listener, stranger) = bind().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let forms = dir.path().join("forms.json");
    let config = serde_json::json!({"order": {
        "fields": {"comment": "message"},
        "required": ["name"],
        "allowed_origins": [format!("http://{shop}")],
        "redirect": format!("http://{shop}/thanks"),
        "honeypot": "website"
    }});
    std::fs::write(&forms, config.to_string()).expect("forms");
    let suite = support::all_in_one_with(move |s| s.forms = Some(forms)).await;
    let action = format!("http://{}/forms/order", suite.running.http_addr);
    serve_site(shop_listener, form_page(&action));
    serve_site(stranger_listener, form_page(&action));

    let browser = Browser::start().await;
    browser.goto(&format!("http://{shop}/")).await;
    browser.type_into("#name", "Мария Покупатель").await;
    browser.type_into("#email", "maria@example.org").await;
    browser.type_into("#phone", "8 912 000-11-22").await;
    browser.type_into("#message", "Нужны окна на дачу").await;
    browser.click("#send").await;
    browser
        .wait_text("#thanks", |t| t.contains("Спасибо"))
        .await;
    eventually("the lead and its form entry", || async {
        (suite.count("leads").await == 1
            && suite.count("activity_entries WHERE kind = 'form'").await == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        suite
            .count("identities WHERE value IN ('maria@example.org', '+79120001122')")
            .await,
        2,
        "the lead holds the email and the phone"
    );
    assert_eq!(
        suite
            .count("leads WHERE source_campaign = 'windows-autumn'")
            .await,
        1
    );

    // The same form on a site that is not allowed: the browser's Origin gives it away.
    browser.goto(&format!("http://{stranger}/")).await;
    browser.type_into("#name", "Бот").await;
    browser.type_into("#email", "bot@example.net").await;
    browser.click("#send").await;
    browser
        .wait_text("body", |t| t.contains("not accepted"))
        .await;
    assert_eq!(
        suite.count("leads").await,
        1,
        "nothing stored from a foreign origin"
    );
    browser.quit().await;
    suite.stop().await;
}
