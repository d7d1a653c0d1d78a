//! Seed 001's Rancher hook, verbatim with its placeholders filled in: token, namespace, workload
//! and container from the query, environment from the query, the entire payload as the argument,
//! 500 on a mismatch. Once exactly as published (its `/webhooks.sh` does not exist here), once
//! with only `execute-command` and `command-working-directory` pointed at the recorder, fed the
//! Aliyun, Docker Hub and custom (Jenkins) payloads the seed shows.

use super::case::Case;
use super::pair::Group;

/// The seed's hooks definition; only `<...>` placeholders are filled in.
const SEED_001: &str = r#"[
{
"id": "cnrancher_website",
"execute-command": "/webhooks.sh",
"command-working-directory": "/home",
"response-message": "I got the payload!",
"include-command-output-in-response": true,
"include-command-output-in-response-on-error": true,
"trigger-rule-mismatch-http-response-code": 500,
"response-headers":
[
{
"name": "Access-Control-Allow-Origin",
"value": "*"
}
],
"pass-arguments-to-command":
[
{
"source": "entire-payload"
}
],
"pass-environment-to-command":
[
{
"envname": "APP_NS",
"source": "url",
"name": "ns"
},
{
"envname": "APP_WORKLOAD",
"source": "url",
"name": "workload"
},
{
"envname": "APP_CONTAINER",
"source": "url",
"name": "container"
},
{
"envname": "REPO_TYPE",
"source": "url",
"name": "repo_type"
},
{
"envname": "NET_TYPE",
"source": "url",
"name": "net_type"
},
{
"envname": "MAIL_TO",
"source": "string",
"name": "ops@example.com"
}
],
"trigger-rule":
{
"and":
[
{
"match":
{
"type": "value",
"value": "Zm9vYmFy",
"parameter":
{
"source": "url",
"name": "token"
}
}
},
{
"match":
{
"type": "value",
"value": "cnrancher",
"parameter":
{
"source": "url",
"name": "ns"
}
}
},
{
"match":
{
"type": "value",
"value": "deployment/website",
"parameter":
{
"source": "url",
"name": "workload"
}
}
},
{
"match":
{
"type": "value",
"value": "website",
"parameter":
{
"source": "url",
"name": "container"
}
}
}
]
}
}
]"#;

/// The seed's Aliyun Container Registry push, verbatim (the space in the digest included).
const ALIYUN: &str = r#"{
"push_data": {
"digest": "sha256:f66daa126e9fcac4e2d0b7131e78ffd5d8e0012a1e6cb150a953e5be8da5d 980",
"pushed_at": "2019-03-13 23:38:07",
"tag": "latest"
},
"repository": {
"date_created": "2019-03-05 13:47:43",
"name": "webhook",
"namespace": "rancher_cn",
"region": "cn-shanghai",
"repo_authentication_type": "NO_CERTIFIED",
"repo_full_name": "rancher_cn/webhook",
"repo_origin_type": "NO_CERTIFIED",
"repo_type": "PUBLIC"
}
}"#;

/// The seed's Docker Hub push, verbatim.
const DOCKERHUB: &str = r##"{
"push_data": {
"pushed_at": 1552553567,
"images": [],
"tag": "latest",
"pusher": "hongxiaolu"
},
"callback_url": "",
"repository": {
"status": "Active",
"description": "iperf3",
"is_trusted": true,
"full_description": "# iperf3\niperf3\n",
"repo_url": "",
"owner": "hongxiaolu",
"is_official": false,
"is_private": false,
"name": "iperf3",
"namespace": "hongxiaolu",
"star_count": 0,
"comment_count": 0,
"date_created": 1540013520,
"dockerfile": "# ",
"repo_name": "hongxiaolu/iperf3"
}
}"##;

/// The seed's Jenkins body with its shell variables filled in.
const CUSTOM: &str = r#"{
"push_data": {
"tag": "v1.4.2"
},
"repository": {
"repo_url": "registry.example.com",
"name": "website",
"namespace": "cnrancher"
}
}"#;

/// The Jenkins body exactly as the seed prints it: `${images_repo_url}` unquoted is not JSON.
const CUSTOM_UNFILLED: &str = r#"{
"push_data": {
"tag": "${images_tag}"
},
"repository": {
"repo_url": ${images_repo_url},
"name": "${images_name}",
"namespace": "${images_namespace}"
}
}"#;

const URL: &str =
    "/hooks/cnrancher_website?token=Zm9vYmFy&ns=cnrancher&workload=deployment/website&container=website";

fn cases() -> Vec<Case> {
    let with = |q: &str| format!("{URL}{q}");
    vec![
        Case::post("aliyun push, public network", &with("&repo_type=aliyun"))
            .json(ALIYUN)
            .runs(),
        Case::post(
            "aliyun push, vpc network",
            &with("&repo_type=aliyun&net_type=vpc"),
        )
        .header("Content-Type", "application/json")
        .body("", ALIYUN)
        .runs(),
        Case::post(
            "aliyun push, classic network",
            &with("&repo_type=aliyun&net_type=internal"),
        )
        .json(ALIYUN)
        .runs(),
        Case::post("docker hub push", &with("&repo_type=dockerhub"))
            .json(DOCKERHUB)
            .runs(),
        Case::post("custom push from Jenkins", &with("&repo_type=custom"))
            .header("cache-control", "no-cache")
            .json(CUSTOM)
            .runs(),
        Case::post(
            "custom push with the unfilled template",
            &with("&repo_type=custom"),
        )
        .json(CUSTOM_UNFILLED)
        .runs(),
        Case::post("wrong token answers 500", &URL.replace("Zm9vYmFy", "wrong")).json(ALIYUN),
        Case::post(
            "wrong namespace answers 500",
            &URL.replace("ns=cnrancher", "ns=default"),
        )
        .json(ALIYUN),
        Case::post(
            "missing container answers 500",
            &URL.replace("&container=website", ""),
        )
        .json(ALIYUN),
        Case::post("no query answers 500", "/hooks/cnrancher_website").json(ALIYUN),
        Case::get("GET works too", &with("&repo_type=dockerhub")).runs(),
    ]
}

#[test]
fn rancher_hook_from_seed_001_verbatim_like_the_reference() {
    let Some(pair) = Group::new("rancher-verbatim")
        .file("hooks.json", SEED_001)
        .start()
    else {
        return;
    };
    // `/webhooks.sh` is not installed here: the command cannot start, so every triggered case
    // is the reference's 500 with the (empty) output; none records a run.
    let cases: Vec<Case> = cases()
        .into_iter()
        .map(|mut c| {
            c.runs = super::case::Runs::Never;
            c
        })
        .collect();
    pair.run(&cases);
}

#[test]
fn rancher_hook_from_seed_001_runs_like_the_reference() {
    let hooks = SEED_001
        .replace("\"/webhooks.sh\"", "\"@RECORDER@\"")
        .replace("\"/home\"", "\"@DIR@\"");
    let Some(pair) = Group::new("rancher").file("hooks.json", &hooks).start() else {
        return;
    };
    pair.run(&cases());
}
