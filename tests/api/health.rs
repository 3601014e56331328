use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_and_readyz_reports_ready() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status, 200);
    assert!(res.headers.contains_key("x-request-id"));
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["engineRecovered"], true);
    assert!(app.dir.path().join("hotdeal.db").exists());
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_the_error_envelope() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.code(), "NOT_FOUND");
    assert!(res.body["timestamp"].is_string());
    assert!(res.body["message"].is_string());
}

#[tokio::test]
async fn a_client_request_id_is_echoed() {
    let app = spawn_app().await;
    let res = app
        .client
        .health()
        .header("x-request-id", "abc-123")
        .await
        .unwrap();
    assert_eq!(res.headers["x-request-id"], "abc-123");
}
