//! Settlement of training by an in-process committee of 3 with threshold 2, on real ONNX
//! Runtime: one member trains, the others check the train-loss property without training; a
//! Byzantine trainer — a loss its weights do not give, another architecture, a model file it
//! does not hand over, a frozen weight changed under `trainOnly` — is not settled, and an
//! honest member's result is.

use crate::common::*;
use alloy_primitives::{B256, Bytes, I256, U256, keccak256};
use anh_executor::{Member, MemberFuture};
use anh_primitives::{
    CallContext, DnnOracle, HostTensor, JobKind, JobLedger, ModelInfo, OracleError, Rule,
    TensorData, TrainParams, TrainRequest, Trained, job::encode_train_payload,
};
use anh_runtime::{ModelRuntime, ModelSource, synth};
use std::{sync::Arc, time::Duration};

const TIMEOUT: Duration = Duration::from_secs(20);

/// How a Byzantine trainer lies.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// Claims a loss 0.5 lower than its weights give.
    Loss,
    /// Hands over another architecture (with the loss it claims).
    Architecture,
    /// Claims a model it does not hand over.
    Withhold,
    /// Hands over its model with a weight `trainOnly` froze nudged by one ulp (the loss barely
    /// moves: only the frozen-weight check can tell).
    Frozen,
    /// Hands over its model with a trained weight nudged by one ulp: not a lie under the
    /// recompute rule's tolerance (another machine's arithmetic could do as much).
    Nudge,
}

/// A member that trains honestly, then lies about the result; it attests honestly.
#[derive(Debug)]
struct Liar {
    inner: Arc<dyn Member>,
    lie: Lie,
    other: Vec<u8>,
    forged: std::sync::Mutex<Vec<u8>>,
}

impl Liar {
    fn new(inner: Arc<dyn Member>, lie: Lie, other: Vec<u8>) -> Self {
        Self { inner, lie, other, forged: Default::default() }
    }
}

/// `model` with the first element of initializer `name` one ulp larger.
fn nudged(model: &[u8], name: &str) -> Vec<u8> {
    use prost::Message;
    let mut m = anh_runtime::onnx::ModelProto::decode(model).unwrap();
    let init = m.graph.as_mut().unwrap().initializer.iter_mut().find(|i| i.name == name).unwrap();
    let first = f32::from_le_bytes(init.raw_data[..4].try_into().unwrap());
    init.raw_data[..4].copy_from_slice(&f32::from_bits(first.to_bits() + 1).to_le_bytes());
    m.encode_to_vec()
}

impl Member for Liar {
    fn address(&self) -> alloy_primitives::Address {
        self.inner.address()
    }

    fn describe(&self) -> String {
        format!("liar ({:?})", self.lie)
    }

    fn compute(&self, job: Arc<anh_executor::Job>) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let honest = self.inner.compute(job.clone()).await?;
            if job.kind != JobKind::Train {
                return Ok(honest);
            }
            let mut trained = Trained::decode(&honest).unwrap();
            match self.lie {
                Lie::Loss => trained.loss -= I256::try_from(5 * 10i128.pow(17)).unwrap(),
                Lie::Architecture => {
                    trained.model = keccak256(&self.other);
                    trained.size = self.other.len() as u64;
                }
                Lie::Withhold => trained.model = B256::repeat_byte(0xee),
                Lie::Frozen | Lie::Nudge => {
                    let honest = self.inner.artifact(trained.model).await?;
                    let forged =
                        nudged(&honest, if matches!(self.lie, Lie::Frozen) { "w0" } else { "w1" });
                    trained.model = keccak256(&forged);
                    trained.size = forged.len() as u64;
                    *self.forged.lock().unwrap() = forged;
                }
            }
            Ok(trained.encode())
        })
    }

    fn attest(&self, job: Arc<anh_executor::Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        self.inner.attest(job, candidate)
    }

    fn attest_failure(
        &self,
        job: Arc<anh_executor::Job>,
        failure: Bytes,
    ) -> MemberFuture<'_, Bytes> {
        self.inner.attest_failure(job, failure)
    }

    fn attest_block(&self, block: Arc<anh_executor::BlockRound>) -> MemberFuture<'_, Bytes> {
        self.inner.attest_block(block)
    }

    fn artifact(&self, model: B256) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            if model == keccak256(&self.other) {
                return Ok(Bytes::from(self.other.clone()));
            }
            let forged = self.forged.lock().unwrap().clone();
            if model == keccak256(&forged) {
                return Ok(Bytes::from(forged));
            }
            self.inner.artifact(model).await
        })
    }
}

/// A world with a classifier to train, and a batch of 16 separable samples.
fn classifier(world: &World) -> (ModelInfo, Vec<HostTensor>) {
    let info = world.store.put(&synth::classifier(2, &[4], 2, 11)).unwrap();
    let x: Vec<f32> =
        (0..16).flat_map(|i| if i % 2 == 0 { [-1.0, -0.8] } else { [0.9, 1.1] }).collect();
    let y: Vec<i64> = (0..16).map(|i| i % 2).collect();
    let batch = vec![
        HostTensor::new(vec![16, 2], TensorData::F32(x)).unwrap(),
        HostTensor::new(vec![16], TensorData::I64(y)).unwrap(),
    ];
    (info, batch)
}

/// `batch` with its first feature shifted until member `leader` of 3 leads its training job
/// (trained with `params`, settled by `rule`).
fn leading_batch(
    info: &ModelInfo,
    batch: &[HostTensor],
    (params, rule): (&TrainParams, Rule),
    leader: usize,
) -> Vec<HostTensor> {
    let TensorData::F32(x) = batch[0].data() else { unreachable!("float32 features") };
    for shift in 0..64 {
        let mut x = x.clone();
        x[0] += shift as f32 * 0.01;
        let shifted =
            vec![HostTensor::new(vec![16, 2], TensorData::F32(x)).unwrap(), batch[1].clone()];
        let payload = encode_train_payload(&shifted, params).unwrap();
        let job = anh_executor::Job::train(CHAIN_ID, info.hash, payload, rule).id();
        if (U256::from_be_bytes(job.0) % U256::from(3)).to::<u64>() as usize == leader {
            return shifted;
        }
    }
    panic!("no batch led by member {leader}")
}

const PARAMS: TrainParams = TrainParams {
    steps: 5,
    learning_rate: 100_000_000_000_000_000,
    loss: 2,
    optimizer: 3,
    trainable: Vec::new(),
    rank: 0,
};

fn train(
    oracle: &anh_executor::CommitteeOracle,
    info: &ModelInfo,
    batch: Vec<HostTensor>,
    rule: Rule,
) -> Result<Trained, OracleError> {
    train_with(oracle, info, batch, rule, PARAMS)
}

fn train_with(
    oracle: &anh_executor::CommitteeOracle,
    info: &ModelInfo,
    batch: Vec<HostTensor>,
    rule: Rule,
    params: TrainParams,
) -> Result<Trained, OracleError> {
    oracle.train(TrainRequest {
        model: info.hash,
        info,
        batch,
        params,
        context: CallContext { chain_id: CHAIN_ID, block_number: 1 },
        rule,
    })
}

/// An honest committee settles training with one trainer; the others only check the loss.
/// The new model is in the node's store, with its parent, and its loss is the claimed one.
#[test]
fn one_member_trains_the_others_check() {
    let world = World::new(3);
    let (info, batch) = classifier(&world);
    let counting: Vec<_> = world.members().into_iter().map(Counting::new).collect();
    let members = counting.iter().map(|c| c.clone() as Arc<dyn Member>).collect();
    let oracle = world.oracle(members, 2, TIMEOUT).with_model_store(world.store.clone());
    let trained = train(&oracle, &info, batch.clone(), Rule::DEFAULT).unwrap();
    assert_eq!(counting.iter().map(|c| c.computes()).sum::<usize>(), 1, "one trainer");
    assert_eq!(world.runtime.stats().training_steps, 5);
    let records = oracle.take_records();
    assert_eq!(records[0].rule, Rule::DEFAULT_TRAIN, "the default training rule");
    assert_eq!(records[0].kind, JobKind::Train as u8);
    oracle.committee().verify(CHAIN_ID, &records[0]).unwrap();
    assert!(records[0].signatures.len() >= 2);
    let stored = world.store.model_info(&trained.model).expect("in the node's store");
    assert_eq!((stored.parent, stored.size), (Some(info.hash), trained.size));
    let loss = world.runtime.loss(trained.model, batch, 2).unwrap();
    let claimed = i128::try_from(trained.loss).unwrap() as f64 / 1e18;
    assert!((loss - claimed).abs() < 1e-6, "{loss} vs {claimed}");

    // The recompute rule: every attesting member trains too.
    let batch2 = classifier(&world).1;
    let before = world.runtime.stats().training_steps;
    let again = train(&oracle, &info, batch2, Rule::recompute(1_000, 1_000)).unwrap();
    assert!(world.runtime.stats().training_steps - before >= 10, "t members trained");
    assert_eq!(again.model, trained.model, "CPU training is deterministic here");
}

/// A lying trainer in any position is not settled; an honest member's result is. When every
/// member lies, there is no quorum.
#[test]
fn byzantine_trainers_are_not_settled() {
    let other = synth::classifier(2, &[16], 2, 3);
    for lie in [Lie::Loss, Lie::Architecture, Lie::Withhold, Lie::Frozen] {
        let world = World::new(3);
        let (info, batch) = classifier(&world);
        // The frozen-weight lie needs frozen weights: train the last layer only.
        let params = match lie {
            Lie::Frozen => PARAMS.only(vec!["w1".into(), "b1".into()]).unwrap(),
            _ => PARAMS,
        };
        for liar in 0..3 {
            // A batch whose job the liar leads: the leader is `job id mod n`.
            let batch = leading_batch(&info, &batch, (&params, Rule::DEFAULT_TRAIN), liar);
            let honest = {
                let oracle =
                    world.oracle(world.members(), 2, TIMEOUT).with_model_store(world.store.clone());
                train_with(&oracle, &info, batch.clone(), Rule::DEFAULT, params.clone()).unwrap()
            };
            let mut members = world.members();
            let lying =
                Counting::new(Arc::new(Liar::new(members[liar].clone(), lie, other.clone())));
            members[liar] = lying.clone();
            let oracle = world.oracle(members, 2, TIMEOUT).with_model_store(world.store.clone());
            let got = train_with(&oracle, &info, batch, Rule::DEFAULT, params.clone()).unwrap();
            assert_eq!(lying.computes(), 1, "{lie:?}: member {liar} led and lied");
            assert_eq!(got, honest, "{lie:?} at member {liar}");
        }
        let liars: Vec<Arc<dyn Member>> = world
            .members()
            .into_iter()
            .map(|m| Arc::new(Liar::new(m, lie, other.clone())) as Arc<dyn Member>)
            .collect();
        let oracle = world.oracle(liars, 2, TIMEOUT).with_model_store(world.store.clone());
        let err = train_with(&oracle, &info, batch, Rule::DEFAULT, params).unwrap_err();
        assert!(matches!(err, OracleError::NoQuorum { signatures: 0, .. }), "{lie:?}: {err:?}");
    }
}

/// Under the recompute rule a candidate within the tolerance of each member's own training is
/// settled, though not bit-identical: a leader whose weights differ by one ulp (as another
/// machine's arithmetic may) gets its signatures, for `train` (no frozen weights) as for
/// `trainOnly` (the nudged weight being one that trains).
#[test]
fn recompute_settles_results_within_tolerance() {
    let world = World::new(3);
    let (info, batch) = classifier(&world);
    for params in [PARAMS, PARAMS.only(vec!["w1".into(), "b1".into()]).unwrap()] {
        let rule = Rule::recompute(1_000, 1_000);
        let batch = leading_batch(&info, &batch, (&params, rule), 0);
        let mut members = world.members();
        members[0] = Arc::new(Liar::new(members[0].clone(), Lie::Nudge, Vec::new()));
        let oracle = world.oracle(members, 2, TIMEOUT).with_model_store(world.store.clone());
        let got = train_with(&oracle, &info, batch.clone(), rule, params.clone())
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", params.trainable));
        let honest = {
            let oracle =
                world.oracle(world.members(), 2, TIMEOUT).with_model_store(world.store.clone());
            train_with(&oracle, &info, batch, rule, params.clone()).unwrap()
        };
        assert_ne!(got.model, honest.model, "the leader's own (nudged) model is the one settled");
    }
}
