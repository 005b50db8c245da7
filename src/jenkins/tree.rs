//! `tree=` selectors for every read, generated so that they stay small and consistent.
//!
//! `tree` (unlike `depth`) lets Jenkins serialise only what we read. It cannot recurse, so the
//! job-tree scan repeats its block once per folder level (Spinnaker igor does the same).

/// Fields of a queue item (list and `/queue/item/ID/`).
pub const QUEUE_ITEM: &str = "_class,id,inQueueSince,why,timestamp,buildableStartMilliseconds,cancelled,\
task[_class,name,displayName,url],\
executable[_class,number,url],\
actions[causes[_class,userId,userName,shortDescription]]";

/// `/computer/api/json`: node state and what runs where.
pub const COMPUTERS: &str = "computer[_class,displayName,offline,temporarilyOffline,\
offlineCause[*],offlineCauseReason,\
executors[currentExecutable[_class,number,url]],\
oneOffExecutors[currentExecutable[_class,number,url]]]";

/// A build's details, enough for every job.* event.
pub const BUILD: &str = "_class,number,url,building,inProgress,result,timestamp,duration,queueId,\
fullDisplayName,executor[number],\
actions[_class,causes[_class,userId,userName],parameters[_class,name,value],\
lastBuiltRevision[SHA1,branch[name]],remoteUrls]";

/// The fields read for one job (without children).
pub const JOB_FIELDS: &str = "_class,name,displayName,url,description,buildable,concurrentBuild,\
nextBuildNumber,lastBuild[number,queueId,timestamp]";

/// `tree=` for the queue list.
pub fn queue() -> String {
    format!("items[{QUEUE_ITEM}]")
}

/// `tree=` for the job-tree scan, recursing `levels` folder levels (1 = top level only).
pub fn job_tree(levels: usize) -> String {
    let mut inner = String::new();
    for _ in 0..levels.max(1) {
        inner = if inner.is_empty() {
            format!("jobs[{JOB_FIELDS}]")
        } else {
            format!("jobs[{JOB_FIELDS},{inner}]")
        };
    }
    inner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_tree_nests_one_block_per_folder_level() {
        let t = job_tree(3);
        assert_eq!(t.matches("jobs[").count(), 3);
        assert!(t.starts_with("jobs[_class,name,"));
        assert!(t.ends_with("]]]"));
        assert_eq!(job_tree(0), job_tree(1));
    }
}
