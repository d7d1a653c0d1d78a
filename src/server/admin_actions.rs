//! What an admin can do to the history: run a job again (`POST /jobs/{id}/rerun`), roll a
//! target back (`POST /deploys/{target}/rollback`), pause and resume a hook
//! (`POST /admin/hooks/{id}/pause|resume`); and the deploy and hook listings they act on.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::admin_api::{job_view, jobs_matching, json_response, redirect, AdminError, Admitted};
use super::AppState;
use crate::jobs::{Job, JobView, SubmitError, Trigger};
use crate::store::records::summarize_targets;
use crate::store::{DeployRecord, JobFilter, PauseRecord};

/// Deploys listed for one target, at most.
const MAX_DEPLOYS: usize = 1000;

/// Runs job `of` again: the same command, arguments, environment and files, under the hook's
/// current concurrency settings. Admin reruns run even when the hook is paused.
pub(super) async fn start_again(
    state: &AppState,
    of: &str,
    trigger: Trigger,
) -> Result<Arc<Job>, AdminError> {
    let view = job_view(state, of, false)
        .await
        .ok_or_else(|| AdminError::NotFound(format!("job {of}")))?;
    let hook = state
        .hooks
        .snapshot()
        .get(&view.hook)
        .cloned()
        .ok_or_else(|| {
            AdminError::Conflict(format!(
                "Hook {:?} of job {of} is no longer configured; it cannot run again.",
                view.hook
            ))
        })?;
    let spec = state.jobs.store().run_spec(of).await.ok_or_else(|| {
        AdminError::Conflict(format!(
            "The command of job {of} is no longer kept (history retention); it cannot run again."
        ))
    })?;
    let request_id = hex::encode(rand::random::<[u8; 6]>());
    let inv = spec.invocation(state.settings.kill_grace);
    // A rerun or a rollback tells the hook's targets how it ended, like any run.
    let on_filed = state.notifications.on_filed(&hook, None);
    let job = state
        .jobs
        .submit_as(&hook, &request_id, inv, trigger.clone(), on_filed)
        .await
        .map_err(|e| match e {
            SubmitError::QueueFull { .. } => AdminError::QueueFull,
            SubmitError::ShuttingDown => AdminError::ShuttingDown,
            SubmitError::StoreUnavailable => AdminError::StoreUnavailable,
        })?;
    let kind = match &trigger {
        Trigger::Request => "request",
        Trigger::Rerun { .. } => "rerun",
        Trigger::Rollback { .. } => "rollback",
    };
    tracing::info!(job_id = %job.id, hook = %hook.id, of, trigger = kind, "admin started a job again");
    Ok(job)
}

fn started(job: &Job, admitted: &Admitted) -> Response {
    if admitted.from_form {
        return redirect(&format!("/ui/jobs/{}", job.id));
    }
    let mut resp =
        json_response(&json!({ "job": job.id, "hook": job.hook, "trigger": job.trigger }));
    *resp.status_mut() = StatusCode::ACCEPTED;
    if let Ok(v) = HeaderValue::try_from(job.id.as_str()) {
        resp.headers_mut().insert("hookrun-job-id", v);
    }
    resp
}

pub(super) async fn rerun(
    state: &AppState,
    of: &str,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    let job = start_again(state, of, Trigger::Rerun { of: of.to_string() }).await?;
    Ok(started(&job, admitted))
}

pub(super) async fn deploys(state: &AppState) -> Result<Response, AdminError> {
    let all = state.jobs.store().deploys(None, 10_000).await;
    Ok(json_response(
        &json!({ "targets": summarize_targets(&all) }),
    ))
}

pub(super) async fn target_deploys(state: &AppState, target: &str) -> Result<Response, AdminError> {
    let list = state.jobs.store().deploys(Some(target), MAX_DEPLOYS).await;
    if list.is_empty() {
        return Err(AdminError::NotFound(format!("deploys of {target:?}")));
    }
    Ok(json_response(&json!({ "target": target, "deploys": list })))
}

/// The deploy a rollback of `target` goes back to: the one named (`to`, a job id), which must
/// be a good deploy of the target; otherwise the newest good deploy of an image other than the
/// one the target runs now.
pub(super) fn rollback_choice(
    deploys: &[DeployRecord],
    to: Option<&str>,
) -> Result<DeployRecord, AdminError> {
    if let Some(to) = to {
        let d = deploys
            .iter()
            .find(|d| d.job_id == to)
            .ok_or_else(|| AdminError::NotFound(format!("deploy {to} of this target")))?;
        if !d.is_good() {
            return Err(AdminError::Conflict(format!(
                "Deploy {to} did not succeed; only a good deploy can be rolled back to."
            )));
        }
        return Ok(d.clone());
    }
    let mut good = deploys.iter().filter(|d| d.is_good());
    let current = good.next().ok_or_else(|| {
        AdminError::Conflict("This target has no successful deploy to roll back to.".into())
    })?;
    good.find(|d| d.image_after != current.image_after)
        .cloned()
        .ok_or_else(|| {
            AdminError::Conflict(
                "This target has no earlier successful deploy of another image.".into(),
            )
        })
}

pub(super) async fn rollback(
    state: &AppState,
    target: &str,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    let deploys = state.jobs.store().deploys(Some(target), MAX_DEPLOYS).await;
    if deploys.is_empty() {
        return Err(AdminError::NotFound(format!("deploys of {target:?}")));
    }
    let choice = rollback_choice(&deploys, admitted.field("to"))?;
    let trigger = Trigger::Rollback {
        target: target.to_string(),
        of: choice.job_id.clone(),
    };
    tracing::warn!(
        target,
        to = %choice.job_id,
        image = choice.image_after.as_deref().unwrap_or_default(),
        "rollback requested by an admin"
    );
    let job = start_again(state, &choice.job_id, trigger).await?;
    Ok(started(&job, admitted))
}

/// A hook as the admin listing shows it.
#[derive(Debug, Serialize)]
pub(super) struct HookStatus {
    pub id: String,
    pub paused: Option<PauseRecord>,
    pub last_job: Option<JobView>,
}

pub(super) async fn hooks(state: &AppState) -> Vec<HookStatus> {
    let pauses = state.jobs.store().pauses();
    let set = state.hooks.snapshot();
    let mut out = Vec::new();
    for id in set.ids() {
        let filter = JobFilter {
            hook: Some(id.to_string()),
            limit: 1,
            ..JobFilter::default()
        };
        let last_job = jobs_matching(state, &filter).await.into_iter().next();
        out.push(HookStatus {
            id: id.to_string(),
            paused: pauses.get(id).cloned(),
            last_job,
        });
    }
    out
}

pub(super) fn pause(
    state: &AppState,
    hook: &str,
    paused: bool,
    admitted: &Admitted,
) -> Result<Response, AdminError> {
    if state.hooks.snapshot().get(hook).is_none() {
        return Err(AdminError::NotFound(format!("hook {hook:?}")));
    }
    let store = state.jobs.store();
    let record = paused.then(|| PauseRecord {
        hook: hook.to_string(),
        paused_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        reason: admitted
            .field("reason")
            .map(|r| r.chars().take(200).collect())
            .filter(|r: &String| !r.trim().is_empty()),
    });
    if paused {
        tracing::warn!(
            hook,
            "hook paused by an admin: requests run nothing until it is resumed"
        );
    } else {
        tracing::warn!(hook, "hook resumed by an admin");
    }
    store.write(crate::store::Write::Pause(hook.to_string(), record.clone()));
    if admitted.from_form {
        let back = admitted.field("back").filter(|b| b.starts_with("/ui"));
        return Ok(redirect(back.unwrap_or("/ui")));
    }
    Ok(json_response(&json!({ "hook": hook, "paused": record })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobState;

    fn deploy(id: &str, image: &str, state: JobState, rolled_back: bool, at: &str) -> DeployRecord {
        DeployRecord {
            job_id: id.into(),
            hook: "h".into(),
            target: "swarm:web".into(),
            state,
            image_before: None,
            image_after: Some(image.into()),
            digest: None,
            rolled_back,
            status: None,
            message: None,
            started_at: None,
            finished_at: at.into(),
            rollback_of: None,
        }
    }

    #[test]
    fn rollback_goes_to_the_previous_good_image() {
        // Newest first: v3 failed and was rolled back by its script; v2 runs; v1 before.
        let list = vec![
            deploy(
                "j3",
                "web:v3",
                JobState::Failed,
                true,
                "2026-01-01T00:03:00Z",
            ),
            deploy(
                "j2",
                "web:v2",
                JobState::Succeeded,
                false,
                "2026-01-01T00:02:00Z",
            ),
            deploy(
                "j2b",
                "web:v2",
                JobState::Succeeded,
                false,
                "2026-01-01T00:01:30Z",
            ),
            deploy(
                "j1",
                "web:v1",
                JobState::Succeeded,
                false,
                "2026-01-01T00:01:00Z",
            ),
        ];
        assert_eq!(rollback_choice(&list, None).unwrap().job_id, "j1");
        assert_eq!(rollback_choice(&list, Some("j2")).unwrap().job_id, "j2");
        assert!(matches!(
            rollback_choice(&list, Some("j3")),
            Err(AdminError::Conflict(_))
        ));
        assert!(matches!(
            rollback_choice(&list, Some("zz")),
            Err(AdminError::NotFound(_))
        ));
        assert!(matches!(
            rollback_choice(&list[..2], None),
            Err(AdminError::Conflict(_))
        ));
    }
}
