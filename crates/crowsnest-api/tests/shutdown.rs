//! Stopping a server: a graceful shutdown drops the store on the async runtime. The PostgreSQL
//! client is synchronous and runs a runtime of its own, and closing it on a runtime worker
//! used to panic (seen on `crowsnest serve --database postgres://…` shutdown). These tests
//! stop a server over each engine and drop a PostgreSQL store straight on a worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use crowsnest_api::AppState;
use crowsnest_store::Store;
use support::PgSchema;

/// Serves over `store`, answers one request, shuts down, and returns how the server task ended.
async fn serve_then_stop(store: Store) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crowsnest_api::serve_until(
        listener,
        AppState::new(store),
        async move {
            let _ = stopped.await;
        },
    ));
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    stop.send(()).unwrap();
    // A panic while dropping the store would surface here as a JoinError.
    server.await.expect("the server task panicked").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_over_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).unwrap();
    serve_then_stop(store).await;
}

fn open_postgres(pg: &PgSchema) -> Store {
    let url = pg.url.clone();
    // Opening connects synchronously, which must happen off the runtime.
    std::thread::spawn(move || Store::open(&url).unwrap())
        .join()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_over_postgres() {
    let Some(pg) = PgSchema::create() else {
        return;
    };
    serve_then_stop(open_postgres(&pg)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_postgres_store_on_a_runtime_worker() {
    let Some(pg) = PgSchema::create() else {
        return;
    };
    let store = open_postgres(&pg);
    // Use a connection first, so the pool holds an open client when it is dropped.
    let version = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.schema_version().unwrap())
            .await
            .unwrap()
    };
    assert!(version > 0);
    tokio::spawn(async move { drop(store) })
        .await
        .expect("dropping the store on a worker panicked");
}
