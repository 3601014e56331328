//! The OpenAPI document at `/v3/api-docs` tells the truth: every operation has a summary and a
//! description listing its error codes, success bodies are the `{message, data}` envelope, error
//! answers carry the `{timestamp, code, message}` envelope, the security it declares is the one
//! the server enforces, and no two types share a schema name (utoipa keeps one of them silently).

use std::collections::{BTreeMap, BTreeSet};

use hotdeal::error_code::ErrorCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// `(method, path, operation)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A schema with `$ref`s to components resolved (one level).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn security_schemes(op: &Value) -> (bool, bool) {
    let reqs = op["security"].as_array().cloned().unwrap_or_default();
    let bearer = reqs.iter().any(|r| r.get("bearer").is_some());
    let optional = reqs
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
    (bearer, optional)
}

/// Whether `text` names an error code: a word of at least three capitals, digits or `_`
/// (`CO005`, `RATE_LIMITED`, `008`).
fn names_a_code(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .any(|w| w.len() >= 3)
}

async fn document() -> Value {
    let app = spawn_app().await;
    let res = app.get("/v3/api-docs", None).await;
    assert_eq!(res.status, 200);
    res.body
}

#[tokio::test]
async fn every_operation_has_a_summary_and_a_description_listing_its_error_codes() {
    let doc = document().await;
    let ops = operations(&doc);
    assert!(ops.len() >= 79, "only {} operations", ops.len());
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let name = format!("{} {path}", method.to_uppercase());
        let summary = op["summary"].as_str().unwrap_or("");
        if summary.trim().is_empty() || summary.contains('\n') || summary.len() > 120 {
            problems.push(format!("{name}: summary {summary:?} is not one short line"));
        }
        match op["operationId"].as_str() {
            Some(id) if ids.insert(id.to_string()) => {}
            other => problems.push(format!("{name}: operationId {other:?} missing or repeated")),
        }
        let responses = op["responses"].as_object().expect("responses");
        let errors: Vec<(&String, &Value)> = responses
            .iter()
            .filter(|(s, _)| s.parse::<u16>().is_ok_and(|s| s >= 400))
            .collect();
        let api = path.starts_with("/api/");
        if api && errors.is_empty() {
            problems.push(format!("{name}: no error answers listed"));
        }
        let description = op["description"].as_str().unwrap_or("");
        for (status, response) in &errors {
            let text = response["description"].as_str().unwrap_or("");
            if api && !names_a_code(text) {
                problems.push(format!("{name} {status}: no code named in {text:?}"));
            }
            if !description.contains(&format!("- {status}: {text}")) {
                problems.push(format!("{name}: the description does not list {status}"));
            }
            if api {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if schema != "#/components/schemas/ErrorBody" {
                    problems.push(format!(
                        "{name} {status}: not the error envelope: {response}"
                    ));
                }
            }
        }
        let (bearer, _) = security_schemes(op);
        if bearer && !responses.contains_key("401") {
            problems.push(format!("{name}: takes a token but lists no 401"));
        }
        if api && !responses.contains_key("503") {
            problems.push(format!("{name}: no 503"));
        }
        let json_body = op["requestBody"]["content"]
            .get("application/json")
            .is_some();
        if json_body {
            for status in ["400", "413"] {
                if !responses.contains_key(status) {
                    problems.push(format!("{name}: a JSON body but no {status}"));
                }
            }
        }
        for (status, response) in responses {
            if !status.starts_with('2') || !api {
                continue;
            }
            if response["content"].get("text/event-stream").is_some() {
                // A server-sent event stream: no JSON body to wrap.
                continue;
            }
            let Some(schema) = response["content"]["application/json"].get("schema") else {
                problems.push(format!("{name} {status}: no JSON schema"));
                continue;
            };
            let schema = resolve(&doc, schema);
            let props = &schema["properties"];
            if props.get("message").is_none() || props.get("data").is_none() {
                problems.push(format!(
                    "{name} {status}: not the {{message, data}} envelope"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The backquoted codes of an error answer's description (`` `CO005`: sold out; `P002`: ... ``).
fn documented_codes(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() >= 3
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

#[tokio::test]
async fn every_documented_error_code_is_a_row_of_the_table_with_that_status() {
    let doc = document().await;
    let table: BTreeSet<(&str, u16)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.status().as_u16()))
        .collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            if status < 400 {
                continue; // a success may name a state (`OUT_OF_STOCK`), not an error code
            }
            let text = response["description"].as_str().unwrap_or("");
            for code in documented_codes(text) {
                seen += 1;
                if !table.contains(&(code, status)) {
                    problems.push(format!(
                        "{} {path} {status}: `{code}` is not answered with {status} by any row of error_code.rs",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    assert!(
        seen > 200,
        "only {seen} documented codes found: is the parsing right?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn the_documented_bodies_are_the_ones_the_handlers_read() {
    let doc = document().await;
    let confirm = &doc["paths"]["/api/v1/payments/confirm"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let confirm = resolve(&doc, confirm);
    assert_eq!(confirm["required"], json!(["pgToken", "tid"]), "{confirm}");
    let code = &doc["paths"]["/api/v1/auth/email-verification/confirm"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let code = resolve(&doc, code);
    assert_eq!(
        code["required"],
        json!(["email", "verificationToken"]),
        "{code}"
    );
    for path in [
        "/payment/success",
        "/payment/fail",
        "/payment/cancel",
        "/api/v1/payments/refund",
        "/api/v1/payments/cancel",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    let order = &doc["components"]["schemas"]["OrderView"]["properties"]["expiresAt"]["type"];
    assert_eq!(order, &json!(["string", "null"]));
}

/// A token is asked for exactly where the document says: calling every `/api/` operation
/// without one answers 401 where the operation declares a required bearer token, and only there;
/// a forged one is refused by every operation that declares a token, required or optional.
#[tokio::test]
async fn the_declared_security_is_the_enforced_one() {
    let app = spawn_app().await;
    let doc = app.get("/v3/api-docs", None).await.body;
    let id = uuid::Uuid::now_v7().to_string();
    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        if !path.starts_with("/api/") {
            continue;
        }
        let mut url = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            url.push('/');
            url.push_str(if part.starts_with('{') { &id } else { part });
        }
        let body = op["requestBody"].is_object().then(|| json!({}));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.request(method.clone(), &url, body.as_ref(), None).await;
        let (bearer, optional) = security_schemes(&op);
        let required = bearer && !optional;
        if required != (res.status == 401) {
            problems.push(format!(
                "{method} {path}: bearer required in the document: {required}, answered {} without a token",
                res.status
            ));
        }
        // A token the server cannot verify is refused exactly where a token is read.
        let res = app
            .request(method.clone(), &url, body.as_ref(), Some("not-a-token"))
            .await;
        if bearer != (res.status == 401 && res.code() == "UNAUTHORIZED") {
            problems.push(format!(
                "{method} {path}: bearer in the document: {bearer}, a forged token got {} {}",
                res.status,
                res.code()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Schema names are unique: no two module documents define a name differently (merging keeps
/// the first), and no two `ToSchema` types in the source share a name (utoipa keeps one of
/// them, so a request body can silently show another type's fields).
#[test]
fn no_two_types_share_a_schema_name() {
    let mut seen: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    let mut clashes = Vec::new();
    for (part, doc) in hotdeal::http::openapi::parts() {
        let doc = serde_json::to_value(doc).unwrap();
        let schemas = doc["components"]["schemas"].as_object().cloned();
        for (name, schema) in schemas.unwrap_or_default() {
            match seen.get(&name) {
                Some((other, first)) if *first != schema => {
                    clashes.push(format!("{name}: defined differently in {other} and {part}"));
                }
                Some(_) => {}
                None => {
                    seen.insert(name, (part, schema));
                }
            }
        }
    }
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in schema_names(&text) {
            names
                .entry(name)
                .or_default()
                .push(file.strip_prefix(&src).unwrap().display().to_string());
        }
    }
    assert!(
        names.contains_key("PaymentConfirmBody") && names.contains_key("Envelope"),
        "the source scan found {names:?}"
    );
    for (name, files) in &names {
        if files.len() > 1 {
            clashes.push(format!("{name}: ToSchema types in {files:?}"));
        }
    }
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The schema names of the `ToSchema` derives in `text`: the type's name, or its
/// `#[schema(as = ...)]` (last path segment, without generics).
fn schema_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
            continue;
        }
        let mut alias = None;
        for next in &lines[i + 1..] {
            if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                let path = rest.split([')', ',']).next().unwrap_or("");
                let last = path.rsplit("::").next().unwrap_or(path);
                alias = Some(last.split('<').next().unwrap_or(last).trim().to_string());
                continue;
            }
            if next.starts_with("#[") || next.starts_with("///") {
                continue;
            }
            let decl = next
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            let ident = decl
                .strip_prefix("struct ")
                .or_else(|| decl.strip_prefix("enum "))
                .map(|r| {
                    r.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap_or("")
                        .to_string()
                });
            if let Some(ident) = ident {
                out.push(alias.take().unwrap_or(ident));
            }
            break;
        }
    }
    out
}
