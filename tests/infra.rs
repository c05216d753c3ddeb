//! The production template (`infra/template.yaml`) against the code's contract
//! (`functions::contract`): the names both sides must spell the same way, and the properties
//! cfn-lint cannot see because they sit inside `AWS::Serverless::Function` before the SAM
//! transform (runtime, architecture, routes, environment, per-function IAM).
//!
//! cfn-lint and checkov run on the same file from `tests/run`; this test needs no tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use functions::contract;
use serde_norway::Value;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn template() -> Value {
    let path = workspace().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("template has no `{path}` (missing `{k}`)"))
    })
}

fn str_of<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string"))
}

/// `!GetAtt Table.Arn` → ("GetAtt", "Table.Arn"); plain values → None.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        _ => None,
    }
}

/// `registration` → `RegistrationFunction`.
fn logical_id(name: &str) -> String {
    let mut c = name.chars();
    let first = c.next().unwrap().to_ascii_uppercase();
    format!("{first}{}Function", c.as_str())
}

/// The values of every `pub const … : &str = "…";` in `pub mod env` of contract.rs, so a
/// variable added there and forgotten in the template fails here.
fn contract_env_names() -> BTreeSet<String> {
    let source = std::fs::read_to_string(workspace().join("functions/src/contract.rs")).unwrap();
    let start = source
        .find("pub mod env {")
        .expect("contract.rs has `pub mod env`");
    let body = &source[start..];
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .map(|l| {
            l.split('"')
                .nth(1)
                .expect("const with a string value")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_table_has_the_contracts_keys_and_ttl() {
    let t = template();
    let table = get(&t, "Resources.Table");
    assert_eq!(str_of(table, "Type"), "AWS::DynamoDB::Table");
    let props = get(table, "Properties");
    let keys: BTreeMap<&str, &str> = get(props, "KeySchema")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (str_of(k, "KeyType"), str_of(k, "AttributeName")))
        .collect();
    assert_eq!(
        keys,
        BTreeMap::from([
            ("HASH", contract::table::PARTITION_KEY),
            ("RANGE", contract::table::SORT_KEY)
        ])
    );
    let attributes: BTreeMap<&str, &str> = get(props, "AttributeDefinitions")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (str_of(a, "AttributeName"), str_of(a, "AttributeType")))
        .collect();
    assert_eq!(
        attributes,
        BTreeMap::from([
            (contract::table::PARTITION_KEY, "S"),
            (contract::table::SORT_KEY, "S")
        ]),
        "only the keys are declared, both strings"
    );
    assert_eq!(
        str_of(props, "TimeToLiveSpecification.AttributeName"),
        contract::table::TTL_ATTRIBUTE
    );
    assert_eq!(
        get(props, "TimeToLiveSpecification.Enabled"),
        &Value::Bool(true)
    );
    assert_eq!(str_of(props, "BillingMode"), "PAY_PER_REQUEST");
    assert_eq!(
        get(
            props,
            "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled"
        ),
        &Value::Bool(true)
    );
    assert_eq!(
        get(props, "SSESpecification.SSEEnabled"),
        &Value::Bool(true)
    );
}

#[test]
fn one_arm64_al2023_function_per_contract_entry_serving_exactly_its_routes() {
    let t = template();
    let globals = get(&t, "Globals.Function");
    let resources = get(&t, "Resources").as_mapping().unwrap();
    let declared: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = contract::FUNCTIONS
        .iter()
        .map(|f| logical_id(f.name))
        .collect();
    assert_eq!(
        declared, expected,
        "functions in the template vs contract::FUNCTIONS"
    );

    let effective = |props: &Value, key: &str| -> Value {
        props
            .get(key)
            .or_else(|| globals.get(key))
            .cloned()
            .unwrap_or_else(|| panic!("no {key} on the function nor in Globals"))
    };
    for f in contract::FUNCTIONS {
        let id = logical_id(f.name);
        let props = get(&t, &format!("Resources.{id}.Properties"));
        assert_eq!(
            effective(props, "Runtime"),
            Value::from("provided.al2023"),
            "{id}"
        );
        assert_eq!(
            effective(props, "Architectures"),
            Value::Sequence(vec![Value::from("arm64")]),
            "{id}"
        );
        assert_eq!(
            effective(props, "Handler"),
            Value::from("bootstrap"),
            "{id}"
        );
        assert_eq!(
            str_of(props, "CodeUri"),
            format!("../target/lambda/{}/bootstrap.zip", f.name),
            "{id}: cargo lambda's output for the `{}` binary",
            f.name
        );
        let memory = effective(props, "MemorySize").as_u64().unwrap();
        assert!((128..=1769).contains(&memory), "{id}: {memory} MB");

        let mut routes: Vec<(String, String)> = get(props, "Events")
            .as_mapping()
            .unwrap()
            .values()
            .map(|e| {
                assert_eq!(str_of(e, "Type"), "HttpApi", "{id}");
                let api = tagged(get(e, "Properties.ApiId")).expect("ApiId is !Ref HttpApi");
                assert_eq!((api.0.as_str(), api.1.as_str()), ("Ref", Some("HttpApi")));
                (
                    str_of(e, "Properties.Method").to_owned(),
                    str_of(e, "Properties.Path").to_owned(),
                )
            })
            .collect();
        routes.sort();
        let mut want: Vec<(String, String)> = f
            .routes
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        want.sort();
        assert_eq!(routes, want, "{id}: routes vs contract::FUNCTIONS");
    }
}

#[test]
fn every_function_gets_exactly_the_contracts_environment() {
    let t = template();
    let from_contract = contract_env_names();
    // The parser above really read the contract.
    for name in [
        contract::env::TABLE,
        contract::env::SENDER,
        contract::env::REPLY_TO,
        contract::env::SES_CONFIGURATION_SET,
        contract::env::MEDIA_BUCKET,
        contract::env::SECRET_ARN,
        contract::env::SITE_ORIGIN,
        contract::env::PASSWORD_POLICY,
        contract::env::PASSWORD_MIN_LENGTH,
        contract::env::DOWNLOAD_TTL_SECONDS,
    ] {
        assert!(from_contract.contains(name), "{name}");
    }
    let globals: BTreeSet<String> = get(&t, "Globals.Function.Environment.Variables")
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for f in contract::FUNCTIONS {
        let id = logical_id(f.name);
        let mut names = globals.clone();
        if let Some(own) = get(&t, &format!("Resources.{id}.Properties"))
            .get("Environment")
            .and_then(|e| e.get("Variables"))
        {
            names.extend(
                own.as_mapping()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().unwrap().to_owned()),
            );
        }
        assert_eq!(names, from_contract, "{id}: environment vs contract::env");
    }
}

/// `(actions, resources)` of every statement of a function's inline policies.
fn statements(t: &Value, id: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let policies = get(t, &format!("Resources.{id}.Properties.Policies"));
    let list = |v: &Value| -> Vec<String> {
        let one = |v: &Value| match tagged(v) {
            Some((tag, inner)) => format!("!{tag} {}", inner.as_str().unwrap_or("?")),
            None => v.as_str().expect("a string or a tagged string").to_owned(),
        };
        match v.as_sequence() {
            Some(items) => items.iter().map(one).collect(),
            None => vec![one(v)],
        }
    };
    policies
        .as_sequence()
        .expect("Policies is a list of inline policies")
        .iter()
        .flat_map(|p| get(p, "Statement").as_sequence().unwrap().clone())
        .map(|s| {
            assert_eq!(str_of(&s, "Effect"), "Allow");
            (list(get(&s, "Action")), list(get(&s, "Resource")))
        })
        .collect()
}

#[test]
fn iam_is_least_privilege_per_function() {
    let t = template();
    for f in contract::FUNCTIONS {
        let id = logical_id(f.name);
        let mut services = BTreeSet::new();
        for (actions, resources) in statements(&t, &id) {
            for action in &actions {
                assert!(!action.contains('*'), "{id}: wildcard action {action}");
                services.insert(action.split(':').next().unwrap().to_owned());
            }
            for r in &resources {
                assert_ne!(r, "*", "{id}: wildcard resource");
            }
            let service = actions[0].split(':').next().unwrap();
            assert!(
                actions.iter().all(|a| a.starts_with(service)),
                "{id}: one service per statement"
            );
            match service {
                "dynamodb" => {
                    assert_eq!(resources, vec!["!GetAtt Table.Arn"], "{id}: the one table");
                    assert!(
                        !actions.iter().any(|a| matches!(
                            a.as_str(),
                            "dynamodb:Scan" | "dynamodb:DeleteTable" | "dynamodb:BatchWriteItem"
                        )),
                        "{id}: {actions:?}"
                    );
                }
                "ses" => {
                    assert_eq!(actions, vec!["ses:SendEmail"], "{id}");
                    assert_eq!(resources.len(), 2, "{id}: identity + configuration set");
                    assert!(resources[0].contains(":identity/${EmailIdentity}"), "{id}");
                    assert!(
                        resources[1].contains(":configuration-set/${EmailConfigurationSet}"),
                        "{id}"
                    );
                }
                "s3" => {
                    assert_eq!(actions, vec!["s3:GetObject"], "{id}");
                    assert!(resources
                        .iter()
                        .all(|r| r.starts_with("!Sub ${MediaBucket.Arn}/")));
                }
                "secretsmanager" => {
                    assert_eq!(actions, vec!["secretsmanager:GetSecretValue"], "{id}");
                    assert_eq!(resources, vec!["!Ref CodeKeySecret"], "{id}");
                }
                other => panic!("{id}: unexpected service {other}"),
            }
        }
        assert!(services.contains("dynamodb"), "{id} uses the table");
        assert_eq!(
            services.contains("ses"),
            f.uses_mail,
            "{id}: only the functions that send email (and link the SES client) may send"
        );
        assert_eq!(
            services.contains("secretsmanager"),
            f.uses_code_key,
            "{id}: only the functions that read the code key at cold start may read the secret"
        );
        assert_eq!(
            services.contains("s3"),
            f.uses_media,
            "{id}: only the function that signs downloads (and links the S3 client) may read media"
        );
    }
}

#[test]
fn the_edge_serves_the_site_privately_and_the_api_uncached() {
    let t = template();
    for bucket in ["SiteBucket", "MediaBucket"] {
        let block = get(
            &t,
            &format!("Resources.{bucket}.Properties.PublicAccessBlockConfiguration"),
        );
        for flag in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(get(block, flag), &Value::Bool(true), "{bucket}.{flag}");
        }
    }
    assert_eq!(
        str_of(
            &t,
            "Resources.SiteBucket.Properties.VersioningConfiguration.Status"
        ),
        "Enabled",
        "rollback needs site bucket versions"
    );
    let config = get(&t, "Resources.Distribution.Properties.DistributionConfig");
    let api = get(config, "CacheBehaviors")
        .as_sequence()
        .unwrap()
        .iter()
        .find(|b| b.get("PathPattern").and_then(Value::as_str) == Some("/api/*"))
        .expect("an /api/* behaviour");
    assert_eq!(str_of(api, "TargetOriginId"), "api");
    assert_eq!(
        str_of(api, "CachePolicyId"),
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "CachingDisabled"
    );
    assert_eq!(
        str_of(api, "OriginRequestPolicyId"),
        "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "AllViewerExceptHostHeader"
    );
    let site = get(config, "Origins")
        .as_sequence()
        .unwrap()
        .iter()
        .find(|o| str_of(o, "Id") == "site")
        .unwrap();
    assert!(
        site.get("OriginAccessControlId").is_some(),
        "the site bucket is read through OAC"
    );

    let csp = tagged(get(
        &t,
        "Resources.SecurityHeadersPolicy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy",
    ))
    .unwrap()
    .1
    .as_str()
    .unwrap()
    .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks `{directive}`: {csp}");
    }
    assert!(
        !csp.contains("'unsafe-inline'"),
        "the theme ships no inline code"
    );

    let outputs = get(&t, "Outputs").as_mapping().unwrap();
    for name in [
        "SiteUrl",
        "SiteBucketName",
        "MediaBucketName",
        "DistributionId",
        "TableName",
    ] {
        assert!(
            outputs.contains_key(name),
            "output {name} (what deploy needs)"
        );
    }
}
