//! The API server alone over an existing store, for load tests that should not wait for a
//! release build of the whole binary (the scan engine's YARA compiler is most of it):
//!
//! ```text
//! cargo build --release -p crowsnest-api --example load_server
//! load_server STORE LISTEN TENANT     # e.g. /tmp/load/crowsnest.db 127.0.0.1:18443 1
//! ```
//!
//! Prints `token <X-Auth-Token>` (hss:*) and `key <AccessKeyId> <AccessKeySecret>`
//! (yundun-sas:*) for the tenant, one per line, then serves until killed. With `SEED_HOSTS=N`
//! it first gives a tenant without local images N hosts of 100 local images each. `crowsnest serve`
//! serves the same router; scripts/load-test.sh uses this with `SERVER=example`.
#![allow(missing_docs)]

use std::io::Write;

use crowsnest_api::{keys, AppState, Settings};
use crowsnest_store::{Store, TenantId};

/// The allocator `crowsnest serve` runs with (see the binary's main.rs), so both measure alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(location), Some(listen), Some(tenant)) = (args.next(), args.next(), args.next())
    else {
        return Err("usage: load_server STORE LISTEN TENANT".into());
    };
    let tenant = TenantId(tenant.parse()?);
    let store = Store::open(&location)?;
    // SEED_HOSTS=N gives the tenant N hosts of 100 local images each once (ListLocalImages).
    if let Some(hosts) = std::env::var("SEED_HOSTS").ok().filter(|h| !h.is_empty()) {
        let present = store
            .local_images(
                tenant,
                &crowsnest_store::LocalImageQuery {
                    limit: 1,
                    ..Default::default()
                },
            )?
            .total;
        if present == 0 {
            let written = store.seed_hosts(tenant, hosts.parse()?, 100)?;
            eprintln!("seeded {hosts} hosts holding {written} local images");
        }
    }
    let token = keys::create_token(&store, tenant, &["hss:*"], 24 * 3_600_000)?;
    let key = keys::create(&store, tenant, &["yundun-sas:*"])?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "token {token}")?;
    writeln!(out, "key {} {}", key.id, key.secret)?;
    out.flush()?;
    drop(out);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        crowsnest_api::serve_listener(
            listener,
            AppState::with_settings(store, Settings::default()),
        )
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
    })?;
    Ok(())
}
