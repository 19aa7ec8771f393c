//! Server-side cost of the layer: the same axum `/me` route called in-process (no sockets),
//! with and without `EntraAuthLayer`, with a cached valid token. Run with
//! `cargo bench -p entra-auth --bench layer`.

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator};
use http::Request;
use tower::ServiceExt;

fn request(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (emulator, layer, token) = rt.block_on(async {
        let emulator = Emulator::start().await.expect("emulator");
        let config = EntraConfig::builder()
            .tenant(DEV_TENANT_ID)
            .client_id(DEV_API_CLIENT_ID)
            .authority(emulator.base_url())
            .build()
            .expect("config");
        let layer = EntraAuthLayer::new(config);
        layer.prefetch().await.expect("keys");
        let token = emulator.token().sign();
        (emulator, layer, token)
    });
    let with_layer: Router = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.object_id().unwrap_or_default().to_owned() }),
        )
        .layer(layer);
    let without: Router = Router::new().route(
        "/me",
        get(|| async { "5f1a8e42-7c1e-4b9a-9d35-2f0c6b7e8a91" }),
    );

    let mut group = c.benchmark_group("layer");
    group.bench_function("route_without_layer", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                without
                    .clone()
                    .oneshot(request(&token))
                    .await
                    .expect("response"),
            )
        })
    });
    group.bench_function("route_with_layer_cached_token", |b| {
        b.to_async(&rt).iter(|| async {
            let response = with_layer
                .clone()
                .oneshot(request(&token))
                .await
                .expect("response");
            assert_eq!(response.status(), 200);
            black_box(response)
        })
    });
    group.finish();
    drop(emulator);
}

criterion_group!(layer, benches);
criterion_main!(layer);
