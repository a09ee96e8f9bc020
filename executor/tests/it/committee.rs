//! Settlement by an in-process committee of 3 with threshold 2, on real ONNX Runtime and real
//! signatures: honest runs, every single fault, two faults, deterministic failures, one
//! settlement per job per block, and the executor's own refusals.

use crate::common::*;
use alloy_primitives::{B256, Bytes, U256};
use anh_executor::{CommitteeConfig, CommitteeOracle, ExecutorError, Fault, FaultyMember, Member};
use anh_primitives::{
    Committee, DnnOracle, HostTensor, JobLedger, OracleError, Rule, TensorData,
    job::{decode_tensors, encode_tensors},
    signature::recover,
};
use anh_runtime::ModelRuntime;
use std::{sync::Arc, time::Duration};

const TIMEOUT: Duration = Duration::from_secs(1);

/// The fault of the member at a position, given the members.
type MakeFault = fn(&[Arc<dyn Member>], usize) -> Fault;
/// The faults of the first two members, given the members.
type MakeFaults = fn(&[Arc<dyn Member>]) -> [Fault; 2];

/// Which member leads `job` in a committee of `n`.
fn leader(job: B256, n: usize) -> usize {
    (U256::from_be_bytes(job.0) % U256::from(n)).to::<u64>() as usize
}

/// An honest committee settles an inference with the leader's output and a record that
/// verifies; optimistically, only `t` members compute.
#[test]
fn honest_committee_settles() {
    let world = World::new(3);
    let counting: Vec<_> = world.members().into_iter().map(Counting::new).collect();
    let members = counting.iter().map(|c| c.clone() as Arc<dyn Member>).collect();
    let oracle = world.oracle(members, 2, TIMEOUT);
    let inputs = mlp_input(0.0);
    let want = world.runtime.run(world.mlp.hash, inputs.clone()).unwrap();
    let got = infer(&oracle, &world.mlp, inputs.clone(), Rule::DEFAULT).unwrap();
    assert_eq!(got, want);
    let records = oracle.take_records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert!(record.is_settled());
    assert_eq!(record.job, infer_job(&world.mlp, &inputs, Rule::EXACT).id());
    assert_eq!(record.rule, Rule::EXACT, "the default rule is resolved");
    oracle.committee().verify(CHAIN_ID, record).unwrap();
    assert_eq!(record.signatures.len(), 2);
    assert_eq!(counting.iter().map(|c| c.computes()).sum::<usize>(), 2, "only t compute");
    assert_eq!(oracle.stats().attestations_formed, 1);
}

/// With any one faulty member (n = 3, t = 2) — down, slow past the timeout, wrong output,
/// wrong digest, foreign key, copied signature — in any position, leader included, the call
/// settles with the honest output and a record that verifies.
#[test]
fn single_faults_settle() {
    let world = World::new(3);
    let inputs = mlp_input(0.5);
    let want = world.runtime.run(world.mlp.hash, inputs.clone()).unwrap();
    let job = infer_job(&world.mlp, &inputs, Rule::EXACT).id();
    let faults: [(&str, MakeFault); 6] = [
        ("down", |_, _| Fault::Down),
        ("slow", |_, _| Fault::Slow(3 * TIMEOUT)),
        ("wrong output", |_, _| Fault::WrongOutput),
        ("wrong digest", |_, _| Fault::WrongDigest),
        ("foreign key", |_, _| Fault::ForeignKey(signing_key(99))),
        ("copied signature", |members, p| Fault::CopySignatureOf(members[(p + 1) % 3].clone())),
    ];
    for (name, fault) in faults {
        for position in 0..3 {
            let mut members = world.members();
            let faulty = FaultyMember::new(members[position].clone(), fault(&members, position));
            members[position] = Arc::new(faulty);
            let oracle = world.oracle(members, 2, TIMEOUT);
            let role = if position == leader(job, 3) { "leader" } else { "member" };
            let got = infer(&oracle, &world.mlp, inputs.clone(), Rule::DEFAULT)
                .unwrap_or_else(|e| panic!("{name} {role} {position}: {e}"));
            assert_eq!(got, want, "{name} {role} {position}");
            let records = oracle.take_records();
            assert_eq!(records.len(), 1);
            oracle
                .committee()
                .verify(CHAIN_ID, &records[0])
                .unwrap_or_else(|e| panic!("{name} {role} {position}: {e}"));
        }
    }
}

/// With two faulty members of three (t = 2) the call fails with no quorum, which nobody can
/// prove: the block gets no record of it, and the builder is told to leave the transaction
/// out.
#[test]
fn two_faults_no_quorum() {
    let world = World::new(3);
    let cases: [(&str, MakeFaults); 3] = [
        ("down + wrong digest", |_| [Fault::Down, Fault::WrongDigest]),
        ("foreign key + copy", |m| {
            [Fault::ForeignKey(signing_key(99)), Fault::CopySignatureOf(m[2].clone())]
        }),
        ("slow + foreign key", |_| [Fault::Slow(3 * TIMEOUT), Fault::ForeignKey(signing_key(98))]),
    ];
    for (name, faults) in cases {
        let mut members = world.members();
        for (i, fault) in faults(&members).into_iter().enumerate() {
            members[i] = Arc::new(FaultyMember::new(members[i].clone(), fault));
        }
        let oracle = world.oracle(members, 2, TIMEOUT);
        let error = infer(&oracle, &world.mlp, mlp_input(1.0), Rule::DEFAULT).unwrap_err();
        assert!(
            matches!(error, OracleError::NoQuorum { signatures: 1, threshold: 2, .. }),
            "{name}: {error}"
        );
        assert_eq!(oracle.take_unprovable(), vec![error.to_string()], "{name}");
        // The same job again in this block: the same answer at once, noted again.
        let again = infer(&oracle, &world.mlp, mlp_input(1.0), Rule::DEFAULT).unwrap_err();
        assert_eq!(again, error, "{name}");
        assert_eq!(oracle.take_unprovable().len(), 1, "{name}");
        assert!(oracle.take_records().is_empty(), "{name}: no record of an unprovable job");
        let stats = oracle.stats();
        assert_eq!((stats.jobs_failed, stats.jobs_unprovable), (0, 1), "{name}");
    }
}

/// An index out of a Gather's range fails alike on every executor: the job settles as a
/// failed record carrying ONNX Runtime's message and `t` signatures of it, after only `t`
/// computations (signing a failure does not compute it again).
#[test]
fn ort_failure_is_a_failed_record() {
    let world = World::new(3);
    let counting: Vec<_> = world.members().into_iter().map(Counting::new).collect();
    let members = counting.iter().map(|c| c.clone() as Arc<dyn Member>).collect();
    let oracle = world.oracle(members, 2, TIMEOUT);
    let error =
        infer(&oracle, &world.int64, int64_input([2, 12, 0, 1, 1]), Rule::DEFAULT).unwrap_err();
    let OracleError::Failed(message) = &error else { panic!("{error}") };
    assert!(message.contains("Gather"), "ONNX Runtime's message: {message}");
    let records = oracle.take_records();
    assert_eq!(records.len(), 1);
    assert_eq!(String::from_utf8_lossy(&records[0].failure), format!("failed: {message}"));
    assert_eq!(records[0].failure_error(), error);
    assert_eq!(records[0].signatures.len(), 2);
    oracle.committee().verify(CHAIN_ID, &records[0]).expect("a signed failure verifies");
    assert!(oracle.take_unprovable().is_empty());
    assert_eq!(oracle.stats().jobs_failed, 1);
    assert_eq!(counting.iter().map(|c| c.computes()).sum::<usize>(), 2);
    // A valid index runs.
    let ok = infer(&oracle, &world.int64, int64_input([2, 2, 0, 5, 4]), Rule::DEFAULT).unwrap();
    assert_eq!(ok[0].data(), &TensorData::I64(vec![-530, -2983, 1520]));
}

/// Identical jobs in one block settle once (counted in member calls); `take_records` hands
/// the block's records over in first-use order and starts a new block.
#[test]
fn identical_jobs_settle_once_per_block() {
    let world = World::new(3);
    let counting: Vec<_> = world.members().into_iter().map(Counting::new).collect();
    let members = counting.iter().map(|c| c.clone() as Arc<dyn Member>).collect();
    let oracle = world.oracle(members, 2, TIMEOUT);
    let computes = || counting.iter().map(|c| c.computes()).sum::<usize>();
    let a = infer(&oracle, &world.mlp, mlp_input(2.0), Rule::DEFAULT).unwrap();
    let b = infer(&oracle, &world.int64, int64_input([1, 2, 3, 4, 5]), Rule::DEFAULT).unwrap();
    assert_eq!(infer(&oracle, &world.mlp, mlp_input(2.0), Rule::DEFAULT).unwrap(), a);
    assert_eq!(
        infer(&oracle, &world.int64, int64_input([1, 2, 3, 4, 5]), Rule::DEFAULT).unwrap(),
        b
    );
    assert_eq!(computes(), 4, "two jobs, t computations each");
    let records = oracle.take_records();
    let ids: Vec<_> = records.iter().map(|r| r.job).collect();
    assert_eq!(
        ids,
        vec![
            infer_job(&world.mlp, &mlp_input(2.0), Rule::EXACT).id(),
            infer_job(&world.int64, &int64_input([1, 2, 3, 4, 5]), Rule::EXACT).id(),
        ],
        "first-use order"
    );
    assert!(oracle.take_records().is_empty(), "a new block");
    // Another rule is another job; the next block settles the first job again.
    infer(&oracle, &world.mlp, mlp_input(2.0), Rule::ARGMAX).unwrap();
    infer(&oracle, &world.mlp, mlp_input(2.0), Rule::DEFAULT).unwrap();
    assert_eq!(computes(), 8);
    let records = oracle.take_records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].rule, Rule::ARGMAX);
    assert_eq!(oracle.attestations_formed(), 4);
}

/// The jobs recorded since a mark are forgotten with the transaction that asked for them
/// (the builder left it out of the block): the block keeps the others, in order, and a job
/// forgotten and asked again is recorded again.
#[test]
fn jobs_since_a_mark_are_forgotten() {
    let world = World::new(3);
    let oracle = world.oracle(world.members(), 2, TIMEOUT);
    infer(&oracle, &world.mlp, mlp_input(1.0), Rule::EXACT).unwrap();
    let mark = oracle.mark();
    assert_eq!(mark, 1);
    infer(&oracle, &world.mlp, mlp_input(2.0), Rule::EXACT).unwrap();
    infer(&oracle, &world.mlp, mlp_input(1.0), Rule::EXACT).unwrap();
    assert_eq!(oracle.mark(), 2, "a job asked again is recorded once");
    oracle.forget_since(mark);
    assert_eq!(oracle.mark(), 1);
    infer(&oracle, &world.mlp, mlp_input(3.0), Rule::EXACT).unwrap();
    oracle.forget_since(5);
    assert_eq!(oracle.mark(), 2, "a mark past the end forgets nothing");
    let records = oracle.take_records();
    let id = |x: f32| infer_job(&world.mlp, &mlp_input(x), Rule::EXACT).id();
    assert_eq!(records.iter().map(|r| r.job).collect::<Vec<_>>(), vec![id(1.0), id(3.0)]);
}

/// An outcome nobody could prove outlives the forgetting of its transaction: the same job
/// asked again in the block fails at once (no second settlement, no member asked), and it
/// is never sealed.
#[test]
fn an_unprovable_job_is_remembered_for_the_block() {
    let world = World::new(3);
    let mut members = world.members();
    for member in members.iter_mut().take(2) {
        *member = Arc::new(FaultyMember::new(member.clone(), Fault::Down));
    }
    let counting = Counting::new(members[2].clone());
    members[2] = counting.clone();
    let oracle = world.oracle(members, 2, TIMEOUT);
    let mark = oracle.mark();
    let first = infer(&oracle, &world.mlp, mlp_input(1.0), Rule::EXACT).unwrap_err();
    assert!(matches!(first, OracleError::NoQuorum { .. }), "{first}");
    let computes = counting.computes();
    assert!(computes >= 1, "the one member up computed the job");
    oracle.forget_since(mark);
    let again = infer(&oracle, &world.mlp, mlp_input(1.0), Rule::EXACT).unwrap_err();
    assert_eq!(again, first);
    assert_eq!(counting.computes(), computes, "answered from the block's memory");
    assert!(oracle.take_records().is_empty(), "never sealed");
}

/// `model_info` settles the registration job: the model's analysis, exactly, verified.
#[test]
fn model_info_settles_registration() {
    let world = World::new(3);
    let oracle = world.oracle(world.members(), 2, TIMEOUT);
    assert_eq!(oracle.model_info(world.mlp.hash).unwrap(), world.mlp);
    let records = oracle.take_records();
    assert_eq!(records[0].kind, 2);
    assert_eq!(records[0].rule, Rule::EXACT);
    oracle.committee().verify(CHAIN_ID, &records[0]).unwrap();
    // A model no executor has fails as "not available" (t agree and sign), with a failed
    // record that verifies.
    let error = oracle.model_info(B256::repeat_byte(7)).unwrap_err();
    assert!(error.to_string().contains("not available"), "{error}");
    let record = &oracle.take_records()[0];
    assert!(!record.is_settled());
    oracle.committee().verify(CHAIN_ID, record).expect("a signed failure verifies");
}

/// A tolerance rule settles too, and is the rule recorded and signed.
#[test]
fn tolerance_rule_settles() {
    let world = World::new(3);
    let oracle = world.oracle(world.members(), 3, TIMEOUT);
    let rule = Rule::tolerance(1_000, 1_000);
    infer(&oracle, &world.mlp, mlp_input(3.0), rule).unwrap();
    let record = &oracle.take_records()[0];
    assert_eq!(record.rule, rule);
    assert_eq!(record.signatures.len(), 3);
    oracle.committee().verify(CHAIN_ID, record).unwrap();
}

/// An executor signs a candidate only if the rule's property holds against its own result,
/// and says why it refuses.
#[test]
fn executor_checks_the_rule_before_signing() {
    let world = World::new(1);
    let executor = &world.executors[0];
    let inputs = mlp_input(0.0);
    let own = world.runtime.run(world.mlp.hash, inputs.clone()).unwrap();
    let bumped = |index: usize, delta: f32| {
        let TensorData::F32(mut v) = own[0].data().clone() else { unreachable!() };
        v[index] += delta;
        encode_tensors(&[HostTensor::new(own[0].shape().to_vec(), TensorData::F32(v)).unwrap()])
            .unwrap()
    };
    let shifted = |delta: f32| bumped(0, delta);
    // Row 0's arg-max, and another element of row 0 (mlp's output is [batch, 3]).
    let TensorData::F32(values) = own[0].data() else { unreachable!() };
    let top = (0..3).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
    let exact = infer_job(&world.mlp, &inputs, Rule::EXACT);
    let honest = executor.compute(&exact).unwrap();
    assert_eq!(decode_tensors(&honest).unwrap(), own);
    let signature = executor.attest(&exact, &honest).unwrap();
    assert_eq!(recover(&exact.digest(&honest), &signature).unwrap(), executor.address());
    let refused = |job, candidate: &Bytes| match executor.attest(job, candidate) {
        Err(ExecutorError::Refused { reason, executor: who, .. }) => {
            assert_eq!(who, executor.address());
            reason
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refused(&exact, &shifted(1e-6)).contains("differs"));
    let tolerant = infer_job(&world.mlp, &inputs, Rule::tolerance(1_000, 0)); // 1e-6 absolute
    assert!(executor.attest(&tolerant, &shifted(5e-7)).is_ok());
    assert!(refused(&tolerant, &shifted(1e-2)).contains("not within"));
    // A candidate of ∞ does not widen its own bound, even at a relative tolerance of 100 %:
    // the bound scales with this executor's own value.
    let relative = infer_job(&world.mlp, &inputs, Rule::tolerance(0, 1_000_000_000));
    let infinite = refused(&relative, &shifted(f32::INFINITY));
    assert!(infinite.contains("output 0 element 0: inf is not within"), "{infinite}");
    let argmax = infer_job(&world.mlp, &inputs, Rule::ARGMAX);
    assert!(executor.attest(&argmax, &shifted(1e-3)).is_ok());
    assert!(refused(&argmax, &bumped((top + 1) % 3, 100.0)).contains("arg-max"));
    assert!(refused(&argmax, &Bytes::from_static(b"junk")).contains("Tensor[]"));
    let stats = executor.stats();
    assert_eq!(stats.computed, 4, "one computation per job: the rest from the cache");
    assert_eq!(stats.signed, 3);
    assert_eq!(stats.refused, 5);
}

/// A committee configuration whose members do not match the committee is refused.
#[test]
fn committee_config_is_validated() {
    let world = World::new(3);
    let members = world.members();
    let committee = |addresses: Vec<_>, threshold| Committee {
        members: addresses,
        threshold,
        default_rule: Rule::EXACT,
    };
    let addresses: Vec<_> = members.iter().map(|m| m.address()).collect();
    let reversed: Vec<_> = addresses.iter().rev().copied().collect();
    let duplicated = vec![addresses[0], addresses[0], addresses[1]];
    let all = addresses.clone();
    for (name, committee, members) in [
        ("t = 0", committee(addresses.clone(), 0), members.clone()),
        ("t > n", committee(addresses.clone(), 4), members.clone()),
        ("order", committee(reversed, 2), members.clone()),
        ("duplicates", committee(duplicated, 2), members.clone()),
        ("count", committee(addresses, 2), members[..2].to_vec()),
        ("empty", committee(vec![], 1), vec![]),
        (
            "training rule as default",
            Committee { default_rule: Rule::DEFAULT_TRAIN, ..committee(all, 2) },
            members.clone(),
        ),
    ] {
        let config = CommitteeConfig { committee, members, chain_id: CHAIN_ID, timeout: TIMEOUT };
        let error = CommitteeOracle::new(config, world.rt.handle().clone()).unwrap_err();
        assert!(matches!(error, ExecutorError::Config(_)), "{name}: {error}");
    }
}

/// A member that times out is put in back-off: the jobs after it ask the responsive members
/// first, so the slow member costs one timeout, not one per job, and every job still settles.
#[test]
fn a_slow_member_is_asked_last() {
    let world = World::new(3);
    let mut members = world.members();
    let slow =
        Counting::new(Arc::new(FaultyMember::new(members[0].clone(), Fault::Slow(3 * TIMEOUT))));
    members[0] = slow.clone();
    let oracle = world.oracle(members, 2, TIMEOUT);
    for i in 0..8 {
        infer(&oracle, &world.mlp, mlp_input(i as f32), Rule::DEFAULT).unwrap();
    }
    assert_eq!(oracle.take_records().len(), 8, "every job settled");
    assert_eq!(slow.computes(), 1, "asked once, then last");
    assert_eq!(oracle.backed_off(), vec![0]);
}

/// Sealing a block: one request per member signs all of its outcomes (the `t` that signed most
/// of its jobs first); the records then carry no signatures of their own and the block
/// verifies as a whole. With one member faulty (down, wrong digest, foreign key) the others
/// still seal it.
#[test]
fn blocks_are_sealed_by_one_round() {
    let parent = B256::repeat_byte(0x42);
    let faults: [Option<MakeFault>; 4] = [
        None,
        Some(|_, _| Fault::Down),
        Some(|_, _| Fault::WrongDigest),
        Some(|_, _| Fault::ForeignKey(signing_key(99))),
    ];
    for make in faults {
        let world = World::new(3);
        let mut members = world.members();
        if let Some(make) = make {
            let fault = make(&members, 0);
            members[0] = Arc::new(FaultyMember::new(members[0].clone(), fault));
        }
        let oracle = world.oracle(members, 2, TIMEOUT);
        for seed in [0.0, 0.25, 0.5] {
            infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
        }
        let (records, attestation) = oracle.seal(9, parent).expect("not optimistic: sealed");
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.signatures.is_empty()), "no per-job signatures");
        assert_eq!(attestation.leaves.len(), 3);
        assert_eq!(attestation.signatures.len(), 2, "t members suffice, faulty ones replaced");
        oracle.committee().verify_block(CHAIN_ID, 9, parent, &records, &attestation).unwrap();
        let e = oracle.committee().verify_block(CHAIN_ID, 10, parent, &records, &attestation);
        assert!(e.is_err(), "signed for block 9 only");
        assert_eq!(oracle.stats().blocks_sealed, 1);
    }
}

/// A member that does its part in every job but will not sign blocks.
#[derive(Debug)]
struct NoBlocks(Arc<dyn Member>);

impl Member for NoBlocks {
    fn address(&self) -> alloy_primitives::Address {
        self.0.address()
    }

    fn describe(&self) -> String {
        format!("{} (signs no blocks)", self.0.describe())
    }

    fn compute(&self, job: Arc<anh_executor::Job>) -> anh_executor::MemberFuture<'_, Bytes> {
        self.0.compute(job)
    }

    fn attest(
        &self,
        job: Arc<anh_executor::Job>,
        candidate: Bytes,
    ) -> anh_executor::MemberFuture<'_, Bytes> {
        self.0.attest(job, candidate)
    }

    fn attest_failure(
        &self,
        job: Arc<anh_executor::Job>,
        failure: Bytes,
    ) -> anh_executor::MemberFuture<'_, Bytes> {
        self.0.attest_failure(job, failure)
    }

    fn attest_block(
        &self,
        block: Arc<anh_executor::BlockRound>,
    ) -> anh_executor::MemberFuture<'_, Bytes> {
        Box::pin(async move {
            Err(ExecutorError::Refused {
                executor: self.0.address(),
                job: block.ids()[0],
                reason: "this member signs no blocks".into(),
            })
        })
    }

    fn artifact(&self, model: B256) -> anh_executor::MemberFuture<'_, Bytes> {
        self.0.artifact(model)
    }
}

/// Jobs settled one by one, but no `t` members sign the whole block: it keeps its records'
/// per-job signatures (its transactions are not lost), each of which verifies.
#[test]
fn a_block_without_a_quorum_keeps_per_job_signatures() {
    let world = World::new(3);
    let members: Vec<Arc<dyn Member>> = world
        .members()
        .into_iter()
        .enumerate()
        .map(|(i, m)| if i < 2 { Arc::new(NoBlocks(m)) as Arc<dyn Member> } else { m })
        .collect();
    let oracle = world.oracle(members, 2, TIMEOUT);
    infer(&oracle, &world.mlp, mlp_input(0.1), Rule::DEFAULT).unwrap();
    infer(&oracle, &world.mlp, mlp_input(0.2), Rule::DEFAULT).unwrap();
    let (records, attestation) = oracle.seal(3, B256::ZERO).expect("not optimistic: sealed");
    assert_eq!(records.len(), 2);
    assert_eq!(attestation, anh_primitives::BlockAttestation::default());
    for record in &records {
        assert_eq!(record.signatures.len(), 2);
        oracle.committee().verify(CHAIN_ID, record).unwrap();
    }
    assert_eq!(oracle.stats().blocks_sealed, 0);
}

/// An executor signs a block only if it agrees with every outcome in it, and names the job it
/// does not agree with.
#[test]
fn an_executor_refuses_a_block_with_a_wrong_outcome() {
    use anh_executor::{BlockJobs, BlockRound, Settled};
    let world = World::new(1);
    let executor = &world.executors[0];
    let job = |seed| infer_job(&world.mlp, &mlp_input(seed), Rule::EXACT);
    let output = |seed| executor.compute(&job(seed)).unwrap();
    let mut block = BlockJobs {
        chain_id: CHAIN_ID,
        number: 4,
        parent: B256::ZERO,
        jobs: [0.0, 0.5]
            .map(|s| Settled { job: job(s), output: output(s), failure: Bytes::new() })
            .to_vec(),
    };
    let signature = executor.attest_block(&BlockRound::new(block.clone())).unwrap();
    let digest = BlockRound::new(block.clone()).digest();
    assert_eq!(recover(&digest, &signature).unwrap(), executor.address());
    let mut forged = decode_tensors(&block.jobs[1].output).unwrap();
    let first = forged[0].clone();
    let TensorData::F32(mut values) = first.data().clone() else { panic!("float32 output") };
    values[0] += 1.0;
    forged[0] = HostTensor::new(first.shape().to_vec(), TensorData::F32(values)).unwrap();
    block.jobs[1].output = encode_tensors(&forged).unwrap();
    match executor.attest_block(&BlockRound::new(block.clone())) {
        Err(ExecutorError::Refused { job, reason, .. }) => {
            assert_eq!(job, block.jobs[1].job.id());
            assert!(reason.starts_with("block 4, job 1 of 2: "), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // One refused job refuses the block: the jobs not checked yet are not computed.
    let computed = executor.stats().computed;
    let mut wrong_first = block.clone();
    wrong_first.jobs.swap(0, 1);
    wrong_first.jobs.extend([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9].map(|s| Settled {
        job: job(s),
        output: output(0.0),
        failure: Bytes::new(),
    }));
    match executor.attest_block(&BlockRound::new(wrong_first.clone())) {
        Err(ExecutorError::Refused { job, reason, .. }) => {
            assert_eq!(job, wrong_first.jobs[0].job.id());
            assert!(reason.starts_with("block 4, job 0 of 10: "), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(executor.stats().computed, computed, "the refusal came from the cache, alone");
}

/// Optimistically, one member answers each job while the block executes, a second checks each
/// answer meanwhile, and the block round is the only round: a block of three inferences costs
/// three computations by the answering member and three by the checking one (before the
/// round, which runs no model), and the block is sealed by both.
#[test]
fn optimistic_blocks_need_one_round() {
    let world = World::new(3);
    let counting: Vec<_> = world.members().into_iter().map(Counting::new).collect();
    let members = counting.iter().map(|c| c.clone() as Arc<dyn Member>).collect();
    let oracle = world.oracle(members, 2, TIMEOUT).optimistic();
    let mut want = Vec::new();
    for seed in [0.0, 0.25, 0.5] {
        let got = infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
        assert_eq!(got, world.runtime.run(world.mlp.hash, mlp_input(seed)).unwrap());
        want.push(got);
    }
    assert_eq!(
        counting.iter().map(|c| c.attests.load(std::sync::atomic::Ordering::SeqCst)).sum::<usize>(),
        0,
        "no per-job round"
    );
    let parent = B256::repeat_byte(5);
    let (records, attestation) = oracle.seal(2, parent).expect("confirmed");
    assert_eq!(records.len(), 3);
    assert_eq!(attestation.signatures.len(), 2);
    oracle.committee().verify_block(CHAIN_ID, 2, parent, &records, &attestation).unwrap();
    let mut computed: Vec<u64> = world.executors.iter().map(|e| e.stats().computed).collect();
    computed.sort();
    assert_eq!(computed, [0, 3, 3], "one member answered every job, one checked every answer");
    assert_eq!(counting.iter().map(|c| c.computes()).sum::<usize>(), 6);
    let hits: u64 = world.executors.iter().map(|e| e.stats().cache_hits).sum();
    assert_eq!(hits, 6, "the round ran no model: both signers had computed every job");
    assert_eq!(oracle.stats().attestations_formed, 3);
}

/// A member checking a block's answers slowly — each check within the member timeout, all of
/// them not — cannot hold the block up: sealing waits one timeout for the checks, stops the
/// slow member and puts it in back-off, and the block round asks another member instead.
#[test]
fn a_slow_checking_member_cannot_hold_a_block_up() {
    let world = World::new(3);
    let mut members = world.members();
    // Block 1's answers come from member 1 (1 mod 3) and are checked by member 2.
    let slow = Counting::new(Arc::new(FaultyMember::new(
        members[2].clone(),
        Fault::Slow(TIMEOUT * 6 / 10),
    )));
    members[2] = slow.clone();
    let oracle = world.oracle(members, 2, TIMEOUT).optimistic();
    let seeds = [0.0, 0.25, 0.5, 0.75];
    for seed in seeds {
        let got = infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
        assert_eq!(got, world.runtime.run(world.mlp.hash, mlp_input(seed)).unwrap());
    }
    let (records, attestation) =
        oracle.seal(1, B256::ZERO).expect("sealed without the slow member");
    assert_eq!(records.len(), seeds.len());
    oracle.committee().verify_block(CHAIN_ID, 1, B256::ZERO, &records, &attestation).unwrap();
    let signers: Vec<_> = attestation
        .signatures
        .iter()
        .map(|s| recover(&attestation.digest(CHAIN_ID, 1, B256::ZERO), s).unwrap())
        .collect();
    assert!(!signers.contains(&slow.address()), "the slow member was not waited for");
    assert_eq!(oracle.backed_off(), vec![2]);
    assert!(slow.computes() < seeds.len(), "stopped before checking every answer");
}

/// When the member that would answer a block is down, the next one answers, and the one after
/// it — not the member that just failed — checks each answer while the block executes: the
/// round then finds every job in the checker's cache.
#[test]
fn a_down_member_does_not_check_the_answers() {
    let world = World::new(3);
    let mut members = world.members();
    // Block 1's order is 1, 2, 0: member 1 is down, 2 answers, 0 checks.
    members[1] = Arc::new(FaultyMember::new(members[1].clone(), Fault::Down));
    let oracle = world.oracle(members, 2, TIMEOUT).optimistic();
    let seeds = [0.0, 0.25, 0.5];
    for seed in seeds {
        let got = infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
        assert_eq!(got, world.runtime.run(world.mlp.hash, mlp_input(seed)).unwrap());
    }
    let (records, attestation) = oracle.seal(1, B256::ZERO).expect("sealed in one round");
    oracle.committee().verify_block(CHAIN_ID, 1, B256::ZERO, &records, &attestation).unwrap();
    let stats: Vec<_> = world.executors.iter().map(|e| e.stats()).collect();
    assert_eq!(stats[2].computed, 3, "member 2 answered");
    assert_eq!(stats[0].computed, 3, "member 0 checked");
    assert_eq!(stats[0].cache_hits, 3, "before the round, which found every job checked");
    assert_eq!(oracle.backed_off(), vec![1]);
}

/// A member that refuses a block the others seal cannot push the honest answering member back:
/// only an answer no quorum confirmed puts its member in back-off. The refusing member, which
/// the quorum contradicted, goes into back-off itself.
#[test]
fn a_refusal_does_not_back_off_a_confirmed_answerer() {
    let world = World::new(3);
    let mut members = world.members();
    // Block 1's order is 1, 2, 0: member 1 answers, member 2 checks but refuses every block.
    members[2] = Arc::new(NoBlocks(members[2].clone()));
    let oracle = world.oracle(members, 2, TIMEOUT).optimistic();
    for seed in [0.0, 0.25] {
        infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
    }
    let (records, attestation) = oracle.seal(1, B256::ZERO).expect("sealed by members 1 and 0");
    oracle.committee().verify_block(CHAIN_ID, 1, B256::ZERO, &records, &attestation).unwrap();
    assert_eq!(oracle.backed_off(), vec![2], "the answer was confirmed; its refuser was not");
}

/// An optimistic answer that is wrong (the answering member lies) is not confirmed: the block
/// is asked for again, and then its jobs settle one by one, with the honest output; the liar
/// answers last afterwards.
#[test]
fn a_wrong_optimistic_answer_makes_the_block_settle_job_by_job() {
    let world = World::new(3);
    let inputs = mlp_input(0.5);
    let want = world.runtime.run(world.mlp.hash, inputs.clone()).unwrap();
    let mut members = world.members();
    // The member that answers block 1's jobs first (1 mod 3) lies about every output.
    let first = 1;
    members[first] = Arc::new(FaultyMember::new(members[first].clone(), Fault::WrongOutput));
    let oracle = world.oracle(members, 2, TIMEOUT).optimistic();
    let lie = infer(&oracle, &world.mlp, inputs.clone(), Rule::DEFAULT).unwrap();
    assert_ne!(lie, want, "the optimistic answer was the liar's");
    assert!(oracle.seal(4, B256::ZERO).is_none(), "not confirmed: build the block again");
    // The second execution settles job by job.
    let settled = infer(&oracle, &world.mlp, inputs, Rule::DEFAULT).unwrap();
    assert_eq!(settled, want);
    let (records, attestation) = oracle.seal(4, B256::ZERO).expect("sealed the second time");
    assert_eq!(records.len(), 1);
    assert_eq!(decode_tensors(&records[0].output).unwrap(), want);
    // The honest members settled the job and sealed the block (the liar signs honestly when
    // asked to attest).
    assert_eq!(attestation.signatures.len(), 2);
    oracle.committee().verify_block(CHAIN_ID, 4, B256::ZERO, &records, &attestation).unwrap();
    // The liar now answers last: the next job of a block it would answer first is answered by
    // an honest member, and the block is sealed in one round, not built twice.
    let seed = 0.75;
    let answered = infer(&oracle, &world.mlp, mlp_input(seed), Rule::DEFAULT).unwrap();
    assert_eq!(answered, world.runtime.run(world.mlp.hash, mlp_input(seed)).unwrap());
    assert!(oracle.seal(5, B256::repeat_byte(1)).is_some(), "confirmed in one round");
}

/// "Model unavailable" is not remembered as the job's outcome: signed while the executor
/// cannot have the model, refused once it can compute the job (a failure signed then would be
/// stale). A failure is refused too once the executor holds an output for the job.
#[test]
fn an_unavailable_model_is_not_a_remembered_failure() {
    use anh_executor::Job;
    use anh_primitives::JobRecord;
    let world = World::new(1);
    let executor = &world.executors[0];
    let bytes = fixture("cnn.onnx");
    let model = alloy_primitives::keccak256(&bytes);
    let job = Job::register(CHAIN_ID, model);
    let error = executor.compute(&job).unwrap_err();
    let failure = JobRecord::failure_of(&error.job_failure(model).expect("a job failure"));
    assert!(executor.attest_failure(&job, &failure).is_ok(), "signed while unavailable");
    world.store.put(&bytes).unwrap();
    match executor.attest_failure(&job, &failure) {
        Err(ExecutorError::Refused { reason, .. }) => {
            assert!(reason.contains("computed an output for the job"), "{reason}")
        }
        other => panic!("a stale failure was signed: {other:?}"),
    }
    assert!(executor.attest_failure(&job, &failure).is_err(), "and stays refused");
}
