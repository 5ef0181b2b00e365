//! Render time of the registry images page over a seeded store of `CROWSNEST_BENCH_IMAGES`
//! placements (default 10,000) in one tenant, through the whole router (session check, the
//! API's parser, the store's list query, HTML): the first page, a filtered page, and a deep
//! page. `cargo bench -p crowsnest-console --bench render`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use crowsnest_api::AppState;
use crowsnest_store::{SeedPlan, Store};
use tower::ServiceExt;

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Vec<String>, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, cookies, String::from_utf8(body.to_vec()).unwrap())
}

fn bench(c: &mut Criterion) {
    let images: u64 = std::env::var("CROWSNEST_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("store.db")).unwrap();
    let seeded = store
        .seed(&SeedPlan {
            images,
            ..SeedPlan::default()
        })
        .unwrap();
    let key = crowsnest_api::keys::create(&store, seeded.tenants[0], &["*"]).unwrap();
    let app = crowsnest_api::router_with(AppState::new(store), &[crowsnest_console::mount]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cookie = rt.block_on(async {
        let (_, pre, form) = call(
            &app,
            Request::get("/console/sign-in")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let at = form.find("name=\"csrf\" value=\"").unwrap() + 19;
        let csrf = form[at..].split('"').next().unwrap().to_owned();
        let body = format!("csrf={csrf}&access_key_id={}&secret={}", key.id, key.secret);
        let (status, cookies, _) = call(
            &app,
            Request::post("/console/sign-in")
                .header(header::COOKIE, &pre[0])
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        cookies
            .into_iter()
            .find(|c| c.starts_with("crowsnest_console="))
            .unwrap()
    });
    let mut group = c.benchmark_group(format!("registry_images_page_{images}"));
    for (name, path) in [
        ("first_page_50", "/console/registry-images"),
        (
            "filtered_high_severity",
            "/console/registry-images?severity_level=High&has_vul=true",
        ),
        (
            "deep_page_offset_9000",
            "/console/registry-images?offset=9000&limit=50",
        ),
        (
            "sorted_by_scan_desc_200",
            "/console/registry-images?sort_key=latest_scan_time&sort_dir=desc&limit=200",
        ),
        ("overview", "/console/"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let (status, _, body) = rt.block_on(call(
                    &app,
                    Request::get(path)
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())
                        .unwrap(),
                ));
                assert_eq!(status, StatusCode::OK);
                body.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
