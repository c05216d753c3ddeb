//! `pressroom deploy` against a real AWS-API server (moto's S3 and CloudFront on 127.0.0.1):
//! what a release actually does to the buckets and the distribution.
//!
//! The site is a small set of files written into a temp dir (one of each cache class), so these
//! tests depend on the deploy contract only, not on the theme. Each test starts its own server.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig,
};
use functions::contract;
use generator::deploy::{
    self, Action, Clients, DeployError, Options, CACHE_IMMUTABLE, CACHE_REVALIDATE, CACHE_STATIC,
};
use sha2::{Digest, Sha256};
use tests::moto::{fixture_bytes, Moto};

const SITE: &str = "pressroom-site";
const MEDIA: &str = "pressroom-media";

/// The files of the test site, by key.
fn site_files() -> BTreeMap<&'static str, Vec<u8>> {
    let mut files = BTreeMap::new();
    let page = |title: &str| format!("<!doctype html><title>{title}</title><p>{title}</p>");
    files.insert("index.html", page("root").into_bytes());
    files.insert("404.html", page("not found").into_bytes());
    files.insert("en/index.html", page("home").into_bytes());
    files.insert("fr/index.html", page("accueil").into_bytes());
    files.insert("en/briefings/old/index.html", page("old").into_bytes());
    files.insert(
        "fr/sujets/économie/index.html",
        page("économie").into_bytes(),
    );
    files.insert(
        "en/atom.xml",
        b"<feed xmlns=\"http://www.w3.org/2005/Atom\"/>".to_vec(),
    );
    files.insert("sitemap.xml", b"<urlset/>".to_vec());
    files.insert("robots.txt", b"User-agent: *\n".to_vec());
    files.insert("assets/app.0123abcd.css", b"body{margin:0}".to_vec());
    files.insert("assets/app.89abcdef.js", b"console.log(1)".to_vec());
    files.insert("assets/logo.png", fixture_bytes(3, 300));
    files.insert("pagefind/pagefind.js", b"export{}".to_vec());
    files.insert(
        "pagefind/pagefind.en_1a2b3c4d5e.pf_meta",
        fixture_bytes(4, 64),
    );
    files.insert(
        contract::catalog::SITE_PATH,
        serde_json::to_vec(&serde_json::json!({
            "videos": {"brief": {"title": "Brief", "parts": {
                "full": {"file": "brief/full.mp4", "filename": "brief-full.mp4"},
                "q1": {"file": "brief/q1.mp4", "filename": "brief-q1.mp4", "start": 2.0, "end": 9.0}
            }}}
        }))
        .unwrap(),
    );
    files
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A project root with pressroom.toml (media in `media/`), a built site and its videos.
fn project(videos: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("pressroom.toml"),
        b"title = \"Test\"\n[media]\ndir = \"media\"\n",
    );
    for (key, bytes) in site_files() {
        write(&root.path().join("public").join(key), &bytes);
    }
    for (file, bytes) in videos {
        write(&root.path().join("media").join(file), bytes);
    }
    root
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct Aws {
    _moto: Moto,
    clients: Clients,
    distribution: String,
}

async fn aws() -> Aws {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let clients = Clients {
        s3: aws_sdk_s3::Client::from_conf(Moto::s3_config(&sdk)),
        cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
    };
    for bucket in [SITE, MEDIA] {
        clients
            .s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
    }
    let config = DistributionConfig::builder()
        .caller_reference("pressroom-test")
        .comment("test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("site")
                        .domain_name(format!("{SITE}.s3.amazonaws.com"))
                        .s3_origin_config(
                            S3OriginConfig::builder().origin_access_identity("").build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy("redirect-to-https".into())
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = clients
        .cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("moto creates the test distribution");
    let distribution = created.distribution().unwrap().id().to_owned();
    Aws {
        _moto: moto,
        clients,
        distribution,
    }
}

fn options(root: &Path, distribution: &str) -> Options {
    let mut o = Options::new(root, SITE);
    o.media_bucket = Some(MEDIA.to_owned());
    o.distribution_id = Some(distribution.to_owned());
    o
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Every invalidation created on the distribution: its paths, sorted.
async fn invalidations(cf: &aws_sdk_cloudfront::Client, distribution: &str) -> Vec<Vec<String>> {
    let list = cf
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap();
    let mut all = Vec::new();
    let ids: Vec<String> = list
        .invalidation_list()
        .map(|l| l.items().iter().map(|i| i.id().to_owned()).collect())
        .unwrap_or_default();
    for id in ids {
        let inv = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(id)
            .send()
            .await
            .unwrap();
        let mut paths: Vec<String> = inv
            .invalidation()
            .and_then(|i| i.invalidation_batch())
            .and_then(|b| b.paths())
            .map(|p| p.items().to_vec())
            .unwrap_or_default();
        paths.sort();
        all.push(paths);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_uploads_what_changed_with_the_right_headers_and_invalidates_changed_pages() {
    let aws = aws().await;
    let (s3, cf) = (&aws.clients.s3, &aws.clients.cloudfront);
    let videos = [
        ("brief/full.mp4", fixture_bytes(10, 50_000)),
        ("brief/q1.mp4", fixture_bytes(11, 9_000)),
    ];
    let root = project(&videos);
    let opts = options(root.path(), &aws.distribution);
    let files = site_files();

    // A dry run plans everything and changes nothing.
    let mut dry = opts.clone();
    dry.dry_run = true;
    let plan = deploy::deploy(&dry, &aws.clients).await.unwrap();
    assert_eq!(plan.site_uploaded.len(), files.len());
    assert_eq!(plan.media_uploaded.len(), videos.len() + 1);
    assert!(plan
        .actions
        .iter()
        .all(|a| matches!(a, Action::Upload { new: true, .. })));
    assert!(
        keys(s3, SITE).await.is_empty(),
        "dry run uploaded to the site bucket"
    );
    assert!(
        keys(s3, MEDIA).await.is_empty(),
        "dry run uploaded to the media bucket"
    );

    // First deploy: everything, with Content-Type, Cache-Control and sha256 per file.
    let first = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert_eq!(first.site_uploaded.len(), files.len());
    assert_eq!(first.site_unchanged, 0);
    assert!(
        first.invalidated.is_empty(),
        "new pages need no invalidation"
    );
    let mut stored = keys(s3, SITE).await;
    stored.sort();
    let mut expected: Vec<String> = files.keys().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(stored, expected);
    let classes = [
        (
            "en/index.html",
            "text/html; charset=utf-8",
            CACHE_REVALIDATE,
        ),
        (
            "fr/sujets/économie/index.html",
            "text/html; charset=utf-8",
            CACHE_REVALIDATE,
        ),
        (
            "en/atom.xml",
            "application/atom+xml; charset=utf-8",
            CACHE_REVALIDATE,
        ),
        (
            "sitemap.xml",
            "application/xml; charset=utf-8",
            CACHE_REVALIDATE,
        ),
        ("robots.txt", "text/plain; charset=utf-8", CACHE_REVALIDATE),
        (
            "assets/app.0123abcd.css",
            "text/css; charset=utf-8",
            CACHE_IMMUTABLE,
        ),
        (
            "assets/app.89abcdef.js",
            "text/javascript; charset=utf-8",
            CACHE_IMMUTABLE,
        ),
        ("assets/logo.png", "image/png", CACHE_STATIC),
        (
            "pagefind/pagefind.js",
            "text/javascript; charset=utf-8",
            CACHE_REVALIDATE,
        ),
        (
            "pagefind/pagefind.en_1a2b3c4d5e.pf_meta",
            "application/octet-stream",
            CACHE_IMMUTABLE,
        ),
        (
            contract::catalog::SITE_PATH,
            "application/json",
            CACHE_REVALIDATE,
        ),
    ];
    for (key, content_type, cache) in classes {
        let head = s3.head_object().bucket(SITE).key(key).send().await.unwrap();
        assert_eq!(head.content_type(), Some(content_type), "{key}");
        assert_eq!(head.cache_control(), Some(cache), "{key}");
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("sha256"))
                .map(String::as_str),
            Some(sha256(&files[key]).as_str()),
            "{key}"
        );
    }

    // Media and catalog land in the media bucket where the download function reads them.
    for (file, bytes) in &videos {
        let key = format!("{}{file}", contract::catalog::MEDIA_PREFIX);
        assert_eq!(&get(s3, MEDIA, &key).await, bytes, "{key}");
        let head = s3
            .head_object()
            .bucket(MEDIA)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("video/mp4"));
    }
    assert_eq!(
        get(s3, MEDIA, contract::catalog::MEDIA_KEY).await,
        files[contract::catalog::SITE_PATH]
    );
    assert!(first.catalog_published);

    // Nothing changed: nothing uploaded, nothing invalidated.
    let again = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert!(again.site_uploaded.is_empty(), "{:?}", again.site_uploaded);
    assert!(
        again.media_uploaded.is_empty(),
        "{:?}",
        again.media_uploaded
    );
    assert!(!again.catalog_published);
    assert_eq!(again.site_unchanged, files.len());
    assert_eq!(again.media_unchanged, videos.len() + 1);
    assert!(again.actions.is_empty());
    assert!(invalidations(cf, &aws.distribution).await.is_empty());

    // One page fixed (same size: only the hash can tell): one upload, its two paths invalidated.
    let page = root.path().join("public/fr/sujets/économie/index.html");
    let text = std::fs::read_to_string(&page)
        .unwrap()
        .replace("économie", "ÉCONOMIE");
    assert_eq!(text.len(), files["fr/sujets/économie/index.html"].len());
    std::fs::write(&page, &text).unwrap();
    let fixed = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert_eq!(fixed.site_uploaded, vec!["fr/sujets/économie/index.html"]);
    let encoded = [
        "/fr/sujets/%C3%A9conomie/",
        "/fr/sujets/%C3%A9conomie/index.html",
    ];
    assert_eq!(fixed.invalidated, encoded);
    assert_eq!(
        invalidations(cf, &aws.distribution).await,
        vec![encoded.to_vec()]
    );
    assert_eq!(
        get(s3, SITE, "fr/sujets/économie/index.html").await,
        text.as_bytes()
    );

    // A page vanishes: kept without --delete, listed in the plan of a --delete dry run,
    // removed (and invalidated) with --delete.
    std::fs::remove_dir_all(root.path().join("public/en/briefings")).unwrap();
    let kept = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert_eq!(kept.site_stale_kept, vec!["en/briefings/old/index.html"]);
    assert!(kept.site_deleted.is_empty());
    assert!(keys(s3, SITE)
        .await
        .contains(&"en/briefings/old/index.html".to_owned()));

    let mut delete = opts.clone();
    delete.delete = true;
    let mut dry_delete = delete.clone();
    dry_delete.dry_run = true;
    let plan = deploy::deploy(&dry_delete, &aws.clients).await.unwrap();
    assert!(plan.actions.contains(&Action::Delete {
        bucket: SITE.to_owned(),
        key: "en/briefings/old/index.html".to_owned()
    }));
    assert!(keys(s3, SITE)
        .await
        .contains(&"en/briefings/old/index.html".to_owned()));
    assert_eq!(invalidations(cf, &aws.distribution).await.len(), 1);

    let deleted = deploy::deploy(&delete, &aws.clients).await.unwrap();
    assert_eq!(deleted.site_deleted, vec!["en/briefings/old/index.html"]);
    assert!(!keys(s3, SITE)
        .await
        .contains(&"en/briefings/old/index.html".to_owned()));
    assert_eq!(
        deleted.invalidated,
        vec!["/en/briefings/old/", "/en/briefings/old/index.html"]
    );
    assert_eq!(invalidations(cf, &aws.distribution).await.len(), 2);
    // The media bucket is never pruned by --delete.
    assert_eq!(keys(s3, MEDIA).await.len(), videos.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_videos_go_up_in_parts_and_an_interrupted_upload_resumes() {
    const MIB: usize = 1024 * 1024;
    let aws = aws().await;
    let s3 = &aws.clients.s3;
    // 11 MiB + a bit, 5 MiB parts (S3's minimum): three parts.
    let big = fixture_bytes(20, 11 * MIB + 12_345);
    let root = project(&[
        ("brief/full.mp4", big.clone()),
        ("brief/q1.mp4", fixture_bytes(21, 1_000)),
    ]);
    let mut opts = options(root.path(), &aws.distribution);
    opts.multipart_threshold = 6 * MIB as u64;
    opts.part_size = 5 * MIB as u64;
    let key = format!("{}brief/full.mp4", contract::catalog::MEDIA_PREFIX);

    // An earlier deploy died mid-upload: part 1 is in, part 2 went up corrupted, part 3 never did.
    let started = s3
        .create_multipart_upload()
        .bucket(MEDIA)
        .key(&key)
        .send()
        .await
        .unwrap();
    let upload_id = started.upload_id().unwrap().to_owned();
    for (n, bytes) in [
        (1, big[..5 * MIB].to_vec()),
        (2, fixture_bytes(99, 5 * MIB)),
    ] {
        s3.upload_part()
            .bucket(MEDIA)
            .key(&key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }

    let summary = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert!(summary.actions.contains(&Action::Upload {
        bucket: MEDIA.to_owned(),
        key: key.clone(),
        bytes: big.len() as u64,
        new: true,
        multipart: true,
    }));
    assert_eq!(
        get(s3, MEDIA, &key).await,
        big,
        "the resumed upload assembled the file"
    );
    let pending = s3
        .list_multipart_uploads()
        .bucket(MEDIA)
        .send()
        .await
        .unwrap();
    assert!(
        pending.uploads().is_empty(),
        "the interrupted upload was completed, not left behind: {:?}",
        pending.uploads()
    );
    let head = s3
        .head_object()
        .bucket(MEDIA)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(sha256(&big).as_str()),
        "a resumed upload still records the content hash"
    );
    assert_eq!(head.content_type(), Some("video/mp4"));

    // Next release: the big video is recognised by its hash and not sent again.
    let again = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert!(
        again.media_uploaded.is_empty(),
        "{:?}",
        again.media_uploaded
    );

    // A fresh multipart upload (no earlier attempt) also lands whole.
    let bigger = fixture_bytes(22, 10 * MIB + 1);
    std::fs::write(root.path().join("media/brief/full.mp4"), &bigger).unwrap();
    let replaced = deploy::deploy(&opts, &aws.clients).await.unwrap();
    assert_eq!(replaced.media_uploaded, vec![key.clone()]);
    assert_eq!(get(s3, MEDIA, &key).await, bigger);
}

#[tokio::test]
async fn deploy_explains_what_is_missing_before_touching_aws() {
    // Clients pointing at a closed port: these errors must come before any request.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "x", "x", None, None, "t",
        ))
        .load()
        .await;
    let clients = Clients {
        s3: aws_sdk_s3::Client::new(&sdk),
        cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
    };

    let empty = tempfile::tempdir().unwrap();
    let err = deploy::deploy(&Options::new(empty.path(), SITE), &clients)
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::MissingSite(_)), "{err}");
    assert!(err.to_string().contains("pressroom build"), "{err}");

    let root = project(&[("brief/full.mp4", vec![1; 10])]);
    let err = deploy::deploy(&Options::new(root.path(), SITE), &clients)
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::NoMediaBucket(_)), "{err}");
    assert!(err.to_string().contains("--no-media"), "{err}");

    // brief/q1.mp4 is in the catalog but not in the media folder.
    let mut opts = Options::new(root.path(), SITE);
    opts.media_bucket = Some(MEDIA.to_owned());
    let err = deploy::deploy(&opts, &clients).await.unwrap_err();
    match &err {
        DeployError::MissingMedia { file, .. } => assert_eq!(file, "brief/q1.mp4"),
        other => panic!("expected MissingMedia, got {other}"),
    }
}
