//! Shared fixtures: ONNX Runtime over the runtime crate's test models, executors with fixed
//! keys, committees, a counting member, and a slow runtime.

use alloy_primitives::{Address, B256, Bytes};
use anh_executor::{
    CommitteeConfig, CommitteeOracle, Executor, ExecutorKey, Job, LocalMember, Member, MemberFuture,
};
use anh_primitives::{
    CallContext, Committee, DnnOracle, HostTensor, InferRequest, ModelInfo, OracleError, Rule,
    TensorData, job::encode_tensors,
};
use anh_runtime::{ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, find_ort_library};
use k256::ecdsa::SigningKey;
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

pub(crate) const CHAIN_ID: u64 = 31337;

/// Bytes of a model in `runtime/testdata/`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/testdata").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A tokio runtime like the node's: multi-threaded.
pub(crate) fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// ONNX Runtime over `store`; fails the test with the set-up message without the library.
pub(crate) fn ort(store: Arc<dyn anh_runtime::ModelSource>) -> Arc<OrtRuntime> {
    let config = RuntimeConfig {
        library: Some(find_ort_library().unwrap_or_else(|e| panic!("{e}"))),
        ..RuntimeConfig::default()
    };
    Arc::new(OrtRuntime::new(store, config).unwrap_or_else(|e| panic!("ONNX Runtime: {e}")))
}

/// The key of executor `i` (fixed, so addresses are stable across runs).
pub(crate) fn signing_key(i: u8) -> SigningKey {
    SigningKey::from_slice(&[i; 32]).unwrap()
}

/// A model store holding mlp.onnx and int64.onnx, ONNX Runtime over it, and `n` executors.
pub(crate) struct World {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) store: Arc<ModelStore>,
    pub(crate) runtime: Arc<OrtRuntime>,
    pub(crate) mlp: ModelInfo,
    pub(crate) int64: ModelInfo,
    pub(crate) executors: Vec<Arc<Executor>>,
}

impl World {
    pub(crate) fn new(n: u8) -> Self {
        let store = Arc::new(ModelStore::temporary().unwrap());
        let mlp = store.put(&fixture("mlp.onnx")).unwrap();
        let int64 = store.put(&fixture("int64.onnx")).unwrap();
        let runtime = ort(store.clone());
        let executors = (1..=n)
            .map(|i| {
                Arc::new(Executor::new(
                    ExecutorKey::new(signing_key(i)),
                    runtime.clone(),
                    store.clone(),
                ))
            })
            .collect();
        Self { rt: tokio_runtime(), store, runtime, mlp, int64, executors }
    }

    /// In-process members, one per executor.
    pub(crate) fn members(&self) -> Vec<Arc<dyn Member>> {
        self.executors
            .iter()
            .map(|e| Arc::new(LocalMember::new(e.clone())) as Arc<dyn Member>)
            .collect()
    }

    /// A committee of `members` with threshold `t`, the exact default rule and `timeout`.
    pub(crate) fn oracle(
        &self,
        members: Vec<Arc<dyn Member>>,
        t: usize,
        timeout: Duration,
    ) -> CommitteeOracle {
        let committee = Committee {
            members: members.iter().map(|m| m.address()).collect(),
            threshold: t,
            default_rule: Rule::EXACT,
        };
        let config = CommitteeConfig { committee, members, chain_id: CHAIN_ID, timeout };
        CommitteeOracle::new(config, self.rt.handle().clone()).unwrap()
    }
}

/// mlp's input: `x` float32 [batch, 4].
pub(crate) fn mlp_input(seed: f32) -> Vec<HostTensor> {
    let x = vec![0.93 + seed, -0.13, -1.09, 1.2, 0.1, 0.2, 0.3, 0.4];
    vec![HostTensor::new(vec![2, 4], TensorData::F32(x)).unwrap()]
}

/// int64's input: `ids` int64 [1, 5], indices into a table of 10 rows.
pub(crate) fn int64_input(ids: [i64; 5]) -> Vec<HostTensor> {
    vec![HostTensor::new(vec![1, 5], TensorData::I64(ids.to_vec())).unwrap()]
}

/// Runs `model` on `inputs` through `oracle`, as a precompile does.
pub(crate) fn infer(
    oracle: &CommitteeOracle,
    info: &ModelInfo,
    inputs: Vec<HostTensor>,
    rule: Rule,
) -> Result<Vec<HostTensor>, OracleError> {
    oracle.infer(InferRequest {
        model: info.hash,
        info,
        inputs,
        context: CallContext { chain_id: CHAIN_ID, block_number: 1 },
        rule,
    })
}

/// The infer job the committee settles for `inputs`.
pub(crate) fn infer_job(info: &ModelInfo, inputs: &[HostTensor], rule: Rule) -> Job {
    Job::infer(CHAIN_ID, info.hash, encode_tensors(inputs).unwrap(), rule)
}

/// A member that counts the calls it forwards.
#[derive(Debug)]
pub(crate) struct Counting {
    pub(crate) inner: Arc<dyn Member>,
    pub(crate) computes: AtomicUsize,
    pub(crate) attests: AtomicUsize,
}

impl Counting {
    pub(crate) fn new(inner: Arc<dyn Member>) -> Arc<Self> {
        Arc::new(Self { inner, computes: AtomicUsize::new(0), attests: AtomicUsize::new(0) })
    }

    pub(crate) fn computes(&self) -> usize {
        self.computes.load(Ordering::SeqCst)
    }
}

impl Member for Counting {
    fn address(&self) -> Address {
        self.inner.address()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes> {
        self.computes.fetch_add(1, Ordering::SeqCst);
        self.inner.compute(job)
    }

    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        self.attests.fetch_add(1, Ordering::SeqCst);
        self.inner.attest(job, candidate)
    }

    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes> {
        self.attests.fetch_add(1, Ordering::SeqCst);
        self.inner.attest_failure(job, failure)
    }

    fn attest_block(&self, block: Arc<anh_executor::BlockRound>) -> MemberFuture<'_, Bytes> {
        self.inner.attest_block(block)
    }

    fn artifact(&self, model: B256) -> MemberFuture<'_, Bytes> {
        self.inner.artifact(model)
    }
}

/// A runtime that sleeps before each run: a job that holds an executor's slot.
#[derive(Debug)]
pub(crate) struct SlowRuntime {
    pub(crate) inner: Arc<dyn ModelRuntime>,
    pub(crate) delay: Duration,
}

impl ModelRuntime for SlowRuntime {
    fn run(&self, model: B256, inputs: Vec<HostTensor>) -> anh_runtime::Result<Vec<HostTensor>> {
        std::thread::sleep(self.delay);
        self.inner.run(model, inputs)
    }
}
