//! The console over a real SQLite store seeded with two tenants, through the whole server's
//! router (the API with the console mounted, as `crowsnest serve` builds it), without sockets.
//! Sign-in, tenant scoping, CSRF and Origin checks, the API's filter errors, paging, and the
//! scan action with the API's quota.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use crowsnest_api::{AppState, ScanQuota, Settings};
use crowsnest_store::{Field, Filter, PlacementOrder, PlacementQuery, SeedPlan, Store, TenantId};
use tower::ServiceExt;

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    app: Router,
    tenants: Vec<TenantId>,
    keys: Vec<(String, String)>,
}

fn world(quota: ScanQuota) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("store.db")).unwrap();
    let seeded = store
        .seed(&SeedPlan {
            tenants: 2,
            images: 400,
            registries_per_tenant: 2,
            repos_per_registry: 10,
            scanned_percent: 80,
        })
        .unwrap();
    let keys = seeded
        .tenants
        .iter()
        .map(|t| {
            let k = crowsnest_api::keys::create(&store, *t, &["*"]).unwrap();
            (k.id, k.secret)
        })
        .collect();
    let key = crowsnest_registry::ServerKey::load_or_create(dir.path()).unwrap();
    let settings = Settings {
        scan_quota: quota,
        registry_key: Some(std::sync::Arc::new(key)),
        ..Settings::default()
    };
    let state = AppState::with_settings(store.clone(), settings);
    World {
        _dir: dir,
        app: crowsnest_api::router_with(state, &[crowsnest_console::mount]),
        store,
        tenants: seeded.tenants,
        keys,
    }
}

struct Reply {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    body: String,
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    Reply {
        status,
        location,
        cookies,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, path: &str, cookie: &str) -> Reply {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

async fn post(app: &Router, path: &str, cookie: &str, origin: Option<&str>, form: &str) -> Reply {
    let mut req = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::HOST, "console.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    send(app, req.body(Body::from(form.to_owned())).unwrap()).await
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The value of the hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let at =
        html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Signs in with an AccessKey and returns the session cookie (`name=value`).
async fn sign_in(app: &Router, key: &(String, String)) -> String {
    let form = get(app, "/console/sign-in", "").await;
    assert_eq!(form.status, StatusCode::OK);
    let pre = cookie_pair(&form.cookies[0]);
    let csrf = csrf_of(&form.body);
    let done = post(
        app,
        "/console/sign-in",
        &pre,
        Some("http://console.test"),
        &format!(
            "csrf={csrf}&access_key_id={}&secret={}",
            enc(&key.0),
            enc(&key.1)
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, "/console/");
    let session = done
        .cookies
        .iter()
        .find(|c| c.starts_with("crowsnest_console="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    cookie_pair(session)
}

fn uuids(store: &Store, tenant: TenantId) -> Vec<String> {
    store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 1000,
            },
        )
        .unwrap()
        .rows
        .iter()
        .map(|r| r.uuid.clone())
        .collect()
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_images() {
    let w = world(ScanQuota::default());
    let first = uuids(&w.store, w.tenants[0]);
    let second = uuids(&w.store, w.tenants[1]);
    assert_eq!(first.len(), 200);
    assert_eq!(second.len(), 200);
    let cookie = sign_in(&w.app, &w.keys[1]).await;
    let page = get(
        &w.app,
        "/console/registry-images?enterprise_project_id=all_granted_eps&limit=200",
        &cookie,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("rows 1–200 of 200"),
        "{}",
        &page.body[..2000.min(page.body.len())]
    );
    for uuid in &second {
        assert!(
            page.body.contains(uuid.as_str()),
            "own image {uuid} missing"
        );
    }
    for uuid in &first {
        assert!(
            !page.body.contains(uuid.as_str()),
            "tenant 1's image {uuid} shown to tenant 2"
        );
        // Its page and its SBOM are "not found", exactly like an image that does not exist.
        let other = get(&w.app, &format!("/console/images/{uuid}"), &cookie).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        let sbom = get(
            &w.app,
            &format!("/console/images/{uuid}/sbom.cdx.json"),
            &cookie,
        )
        .await;
        assert_eq!(sbom.status, StatusCode::NOT_FOUND);
    }
    // The overview counts this tenant's placements only.
    let overview = get(&w.app, "/console/", &cookie).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.body.contains(" of 200 image instances scanned"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("<svg class=\"trend\""));
    // Its own image page answers.
    let own = get(&w.app, &format!("/console/images/{}", second[0]), &cookie).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(
        own.body.contains("No stored inventory"),
        "seeded images have none"
    );
}

#[tokio::test]
async fn pages_need_a_session_and_posts_its_csrf_token() {
    let w = world(ScanQuota::default());
    let anonymous = get(&w.app, "/console/registry-images", "").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location, "/console/sign-in");
    let forged = get(&w.app, "/console/", "crowsnest_console=0123456789abcdef").await;
    assert_eq!(forged.location, "/console/sign-in");
    let json = get(&w.app, "/console/tasks/x/progress.json", "").await;
    assert_eq!(json.status, StatusCode::UNAUTHORIZED);

    // Sign-in itself: without the form's cookie, or with a wrong secret.
    let form = get(&w.app, "/console/sign-in", "").await;
    let csrf = csrf_of(&form.body);
    let no_cookie = post(
        &w.app,
        "/console/sign-in",
        "",
        None,
        &format!("csrf={csrf}&access_key_id=a&secret=b"),
    )
    .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    assert!(no_cookie.body.contains("csrf_failed"));
    let pre = cookie_pair(&form.cookies[0]);
    let wrong = post(
        &w.app,
        "/console/sign-in",
        &pre,
        None,
        &format!(
            "csrf={csrf}&access_key_id={}&secret=wrong",
            enc(&w.keys[0].0)
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong
        .cookies
        .iter()
        .all(|c| !c.starts_with("crowsnest_console=")));

    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let page = get(&w.app, "/console/registry-images", &cookie).await;
    let token = csrf_of(&page.body);
    let selection = "selection=image_name%3Dapp-0-1";
    let missing = post(
        &w.app,
        "/console/registry-images/scan",
        &cookie,
        None,
        selection,
    )
    .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let bad = post(
        &w.app,
        "/console/registry-images/scan",
        &cookie,
        None,
        &format!("csrf=x{token}&{selection}"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let cross = post(
        &w.app,
        "/console/registry-images/scan",
        &cookie,
        Some("http://evil.example"),
        &format!("csrf={token}&{selection}"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(w.store.unfinished_scan_tasks(w.tenants[0]).unwrap(), 0);

    // Sign-out ends the session on the server: the old cookie no longer works.
    let out = post(
        &w.app,
        "/console/sign-out",
        &cookie,
        None,
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(out.location, "/console/sign-in");
    assert_eq!(
        get(&w.app, "/console/", &cookie).await.location,
        "/console/sign-in"
    );
}

#[tokio::test]
async fn a_revoked_key_ends_its_sessions() {
    let w = world(ScanQuota::default());
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    assert_eq!(
        get(&w.app, "/console/agents", &cookie).await.status,
        StatusCode::OK
    );
    w.store.revoke_api_key(w.tenants[0], &w.keys[0].0).unwrap();
    assert_eq!(
        get(&w.app, "/console/agents", &cookie).await.location,
        "/console/sign-in"
    );
}

#[tokio::test]
async fn filters_are_the_apis_with_its_errors_and_pages() {
    let w = world(ScanQuota::default());
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let bad = get(&w.app, "/console/registry-images?scan_status=nope", &cookie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("HSS.0001"), "{}", bad.body);
    let bad_local = get(&w.app, "/console/local-images?host_ip=not-an-ip", &cookie).await;
    assert_eq!(bad_local.status, StatusCode::BAD_REQUEST);

    // Page 3 of 20 rows, in the API's order.
    let page = get(
        &w.app,
        "/console/registry-images?limit=20&offset=40",
        &cookie,
    )
    .await;
    assert!(page.body.contains("rows 41–60 of 200"), "{}", page.body);
    let api = w
        .store
        .placements(
            w.tenants[0],
            &PlacementQuery {
                filter: Filter::Eq(Field::EnterpriseProject, "0".into()),
                order: PlacementOrder::Id,
                offset: 40,
                limit: 20,
            },
        )
        .unwrap();
    let positions: Vec<usize> = api
        .rows
        .iter()
        .map(|r| page.body.find(&r.uuid).expect("row shown"))
        .collect();
    assert!(
        positions.windows(2).all(|p| p[0] < p[1]),
        "rows out of order"
    );

    // A filter narrows exactly as the store does: High severity only.
    let high = get(
        &w.app,
        "/console/registry-images?severity_level=High&limit=200",
        &cookie,
    )
    .await;
    let n = w
        .store
        .placements(
            w.tenants[0],
            &PlacementQuery {
                filter: Filter::All(vec![
                    Filter::Eq(Field::EnterpriseProject, "0".into()),
                    Filter::Eq(Field::Severity, "High".into()),
                ]),
                order: PlacementOrder::Id,
                offset: 0,
                limit: 200,
            },
        )
        .unwrap()
        .total;
    assert!(n > 0);
    assert!(high.body.contains(&format!("of {n}<")), "{}", high.body);
    assert_eq!(
        high.body.matches("class=\"sev sev-high\"").count(),
        usize::try_from(n).unwrap()
    );
}

#[tokio::test]
async fn scanning_a_selection_obeys_the_apis_quota() {
    let w = world(ScanQuota {
        max_unfinished_tasks: 1,
        max_images_per_task: 10_000,
    });
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let page = get(
        &w.app,
        "/console/registry-images?image_name=app-0-1",
        &cookie,
    )
    .await;
    assert!(page.body.contains("id=\"scan-selection\""));
    let token = csrf_of(&page.body);
    let form = format!("csrf={token}&selection=image_name%3Dapp-0-1");
    let created = post(
        &w.app,
        "/console/registry-images/scan",
        &cookie,
        Some("http://console.test"),
        &form,
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let task_id = created
        .location
        .strip_prefix("/console/tasks/")
        .unwrap()
        .to_owned();
    let task = w.store.scan_task(w.tenants[0], &task_id).unwrap().unwrap();
    let expected = w
        .store
        .placements(
            w.tenants[0],
            &PlacementQuery {
                filter: Filter::All(vec![
                    Filter::Eq(Field::EnterpriseProject, "0".into()),
                    Filter::Eq(Field::RepoName, "app-0-1".into()),
                ]),
                order: PlacementOrder::Id,
                offset: 0,
                limit: 1000,
            },
        )
        .unwrap()
        .total;
    assert_eq!(task.total_count, expected);
    assert_eq!(
        w.store.scan_jobs(w.tenants[0], &task_id).unwrap().len() as i64,
        expected
    );
    // The task page and its progress JSON.
    let shown = get(&w.app, &created.location, &cookie).await;
    assert!(shown.body.contains("data-progress-url"));
    let progress = get(
        &w.app,
        &format!("{}/progress.json", created.location),
        &cookie,
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&progress.body).unwrap();
    assert_eq!(json["total_count"], expected);
    assert_eq!(json["status"], "INIT");
    // The second task is over the quota of one unfinished task: the API's own error.
    let refused = post(
        &w.app,
        "/console/registry-images/scan",
        &cookie,
        None,
        &form,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("BeyondQuata"), "{}", refused.body);
    // Another tenant cannot see the task.
    let other = sign_in(&w.app, &w.keys[1]).await;
    assert_eq!(
        get(&w.app, &created.location, &other).await.status,
        StatusCode::NOT_FOUND
    );
    let list = get(&w.app, "/console/tasks", &cookie).await;
    assert!(list.body.contains(&task_id));
}

#[tokio::test]
async fn assets_are_embedded_and_pages_forbid_inline_script() {
    let w = world(ScanQuota::default());
    let css = get(&w.app, "/console/assets/console.css", "").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.body, crowsnest_console::CSS);
    let js = get(&w.app, "/console/assets/console.js", "").await;
    assert_eq!(js.body, crowsnest_console::JS);
    let response = w
        .app
        .clone()
        .oneshot(
            Request::get("/console/sign-in")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    // The API's own routes and errors are unchanged beside the console.
    let api = get(&w.app, "/api/v1/nothing", "").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.body.contains("not_found"));
}

/// The cells of each body row of the table `id` of a page, as text.
fn table_cells(html: &str, id: &str) -> Vec<Vec<String>> {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("table {id}"));
    let body = &html[at..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
                    text.to_owned()
                })
                .collect()
        })
        .collect()
}

/// The fixture image acme-shop, scanned for real, stored as the inventory of a seeded image.
fn store_acme_inventory(w: &World, digest: &str) -> crowsnest_model::Inventory {
    let image = crowsnest_testkit::fixture("images/acme-shop.oci.tar");
    let inventory = crowsnest_scan::Scanner::default()
        .scan_image(&image.display().to_string(), &mut |_| {})
        .unwrap();
    w.store.save_inventory(digest, &inventory, "test").unwrap();
    inventory
}

/// Regression: the Layers table counted packages whose layer was the blob digest, but a package
/// names its layer by diff id, so every layer showed 0.
#[tokio::test]
async fn the_layers_table_counts_each_layers_packages() {
    let w = world(ScanQuota::default());
    let row = w
        .store
        .placements(
            w.tenants[0],
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 1,
            },
        )
        .unwrap()
        .rows[0]
        .clone();
    let inventory = store_acme_inventory(&w, &row.digest);
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let page = get(&w.app, &format!("/console/images/{}", row.uuid), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let layers = table_cells(&page.body, "layers");
    assert_eq!(layers.len(), inventory.layers.len());
    let counts: Vec<usize> = layers.iter().map(|r| r[3].parse().unwrap()).collect();
    // Every package of an image comes from one of its layers.
    assert_eq!(
        counts.iter().sum::<usize>(),
        inventory.packages.len(),
        "{counts:?}"
    );
    // The first layer is debootstrap's: every Debian package is in it (fixtures/README.md).
    let debs = inventory
        .packages
        .iter()
        .filter(|p| p.ecosystem == crowsnest_model::Ecosystem::Deb)
        .count();
    assert!(debs > 80, "{debs} Debian packages");
    assert!(counts[0] >= debs, "{counts:?}");
    // The second holds the Python, npm, Java and Go packages; the third urllib3 1.26.18.
    assert!(counts[1] > 0 && counts[2] > 0, "{counts:?}");
    assert_eq!(
        table_cells(&page.body, "packages").len(),
        inventory.packages.len()
    );
}

/// "Sync now" is POST/redirect/GET: the POST answers 303 See Other to the registries page,
/// which shows the sync's report once (a reload shows the page without it and syncs nothing).
#[tokio::test]
async fn sync_now_redirects_to_the_registries_page() {
    let Some(registry) = crowsnest_testkit::registry::TestRegistry::start() else {
        return;
    };
    registry.push(
        &crowsnest_testkit::registry::docker_archive("images/alpine-310.tar.gz"),
        "lib/alpine:3.10",
        &[],
    );
    let w = world(ScanQuota::default());
    let key = crowsnest_registry::ServerKey::load_or_create(w._dir.path()).unwrap();
    w.store
        .add_registry_connection(
            w.tenants[0],
            &crowsnest_store::NewRegistryConnection {
                registry: crowsnest_store::NewRegistry {
                    uid: "local".into(),
                    name: "local".into(),
                    registry_type: "harbor".into(),
                    enterprise_project_id: "0".into(),
                    ..Default::default()
                },
                url: format!("http://{}", registry.host()),
                username: crowsnest_testkit::registry::USER.into(),
                secret_sealed: key
                    .seal("local", crowsnest_testkit::registry::PASSWORD)
                    .unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let page = get(&w.app, "/console/registries", &cookie).await;
    assert!(page.body.contains("/console/registries/local/sync"));
    assert!(!page.body.contains("id=\"sync-report\""));
    let token = csrf_of(&page.body);
    let synced = post(
        &w.app,
        "/console/registries/local/sync",
        &cookie,
        Some("http://console.test"),
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(synced.status, StatusCode::SEE_OTHER, "{}", synced.body);
    assert_eq!(synced.location, "/console/registries");
    let shown = get(&w.app, &synced.location, &cookie).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown
            .body
            .contains("Synced local: 1 repositories, 1 tags, "),
        "{}",
        shown.body
    );
    let again = get(&w.app, &synced.location, &cookie).await;
    assert!(!again.body.contains("id=\"sync-report\""));
    // Another tenant's session shows no report, and cannot sync this tenant's registry.
    let other = sign_in(&w.app, &w.keys[1]).await;
    let other_page = get(&w.app, "/console/registries", &other).await;
    assert!(!other_page.body.contains("sync-report"));
    let refused = post(
        &w.app,
        "/console/registries/local/sync",
        &other,
        None,
        &format!("csrf={}", csrf_of(&other_page.body)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
}

/// A local image whose digest has a stored inventory links to the image page of its digest,
/// which shows that inventory (the same page as a registry image's); the page is the tenant's
/// own: another tenant, or a digest no host of the tenant holds, is "not found".
#[tokio::test]
async fn local_images_link_to_their_digests_page() {
    let w = world(ScanQuota::default());
    w.store.seed_hosts(w.tenants[0], 2, 5).unwrap();
    let local = w
        .store
        .local_images(
            w.tenants[0],
            &crowsnest_store::LocalImageQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(local.total, 10);
    let scanned = local.rows[0].digest.clone();
    let inventory = store_acme_inventory(&w, &scanned);
    let cookie = sign_in(&w.app, &w.keys[0]).await;
    let list = get(&w.app, "/console/local-images?limit=100", &cookie).await;
    assert_eq!(list.status, StatusCode::OK);
    let href = format!("/console/digests/{scanned}");
    assert!(
        list.body
            .contains(&format!("<a href=\"{href}\" class=\"image-link\">")),
        "{}",
        list.body
    );
    // Only that digest has an inventory to show: no other row links.
    assert_eq!(list.body.matches("class=\"image-link\"").count(), 1);

    let shown = get(&w.app, &href, &cookie).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains(&local.rows[0].image_name));
    assert_eq!(
        table_cells(&shown.body, "packages").len(),
        inventory.packages.len()
    );
    assert_eq!(
        table_cells(&shown.body, "layers").len(),
        inventory.layers.len()
    );
    assert!(shown.body.contains(&format!("{href}/sbom.cdx.json")));
    let sbom = get(&w.app, &format!("{href}/sbom.cdx.json"), &cookie).await;
    assert_eq!(sbom.status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&sbom.body).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");

    // Another tenant's hosts hold nothing: not found, as is a digest no host holds.
    let other = sign_in(&w.app, &w.keys[1]).await;
    assert_eq!(
        get(&w.app, &href, &other).await.status,
        StatusCode::NOT_FOUND
    );
    let unheld = format!("sha256:{}", "0".repeat(64));
    for path in [
        format!("/console/digests/{unheld}"),
        "/console/digests/not-a-digest".to_owned(),
    ] {
        assert_eq!(
            get(&w.app, &path, &cookie).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}
