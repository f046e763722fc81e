//! URDF arms: a URDF of the built-in two-link arm has its dynamics (to
//! 1e-12), a frictionless arm conserves energy, AD Jacobians agree with
//! finite differences, an evaluation allocates nothing, and hostile files
//! are errors naming the file and the element.
#![cfg(feature = "urdf")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::SVector;
use proptest::prelude::*;
use recede_model::file::{FileError, FileRobot};
use recede_model::robots::{Arm, ArmParams};
use recede_model::urdf::{self, UrdfOptions};
use recede_model::{Dynamics, Rk4};
use recede_test_support::{counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn arm6_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models/arm6.urdf")
}

fn arm6(params: &[(&str, f64)]) -> FileRobot<12, 6> {
    let params = params.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let model = urdf::load(&arm6_path(), &UrdfOptions::default(), &params).expect("arm6 loads");
    FileRobot::new(Arc::new(model)).expect("12 states, 6 inputs")
}

fn rod(name: &str, mass: f64, length: f64, inertia: f64) -> String {
    format!(
        r#"<link name="{name}"><inertial><origin xyz="{} 0 0"/><mass value="{mass}"/>
        <inertia ixx="1e-4" ixy="0" ixz="0" iyy="{inertia}" iyz="0" izz="{inertia}"/></inertial></link>"#,
        length / 2.0
    )
}

/// The built-in arm as a URDF: its plane is the world x-z plane, the
/// joints turn about -y (so positive angles lift the arm, as the
/// built-in's do), gravity is -z.
fn two_link_urdf(p: &ArmParams) -> String {
    format!(
        r#"<robot name="arm2">
        <link name="base"/>
        {}
        {}
        <link name="tip"/>
        <joint name="shoulder" type="continuous"><parent link="base"/><child link="link1"/>
          <axis xyz="0 -1 0"/><limit effort="{}" velocity="10"/></joint>
        <joint name="elbow" type="continuous"><parent link="link1"/><child link="link2"/>
          <origin xyz="{} 0 0"/><axis xyz="0 -1 0"/><limit effort="{}" velocity="10"/></joint>
        <joint name="tool" type="fixed"><parent link="link2"/><child link="tip"/>
          <origin xyz="{} 0 0"/></joint>
        </robot>"#,
        rod(
            "link1",
            p.link1_mass_kg,
            p.link1_length_m,
            p.link1_inertia_kg_m2
        ),
        rod(
            "link2",
            p.link2_mass_kg,
            p.link2_length_m,
            p.link2_inertia_kg_m2
        ),
        p.max_torque1_n_m,
        p.link1_length_m,
        p.max_torque2_n_m,
        p.link2_length_m,
    )
}

fn two_link(p: &ArmParams) -> FileRobot<4, 2> {
    let params = BTreeMap::from([("payload_mass_kg".to_string(), p.payload_mass_kg)]);
    let model = urdf::parse(
        &two_link_urdf(p),
        "arm2.urdf",
        &UrdfOptions::default(),
        &params,
    )
    .expect("the two-link URDF loads");
    FileRobot::new(Arc::new(model)).expect("4 states, 2 inputs")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_two_link_urdf_has_the_built_in_arms_dynamics(
        q in prop::array::uniform2(-3.2..3.2f64),
        qd in prop::array::uniform2(-6.0..6.0f64),
        tau in prop::array::uniform2(-20.0..20.0f64),
        payload in 0.0..1.0f64,
        masses in prop::array::uniform2(0.3..3.0f64),
    ) {
        let params = ArmParams {
            link1_mass_kg: masses[0],
            link2_mass_kg: masses[1],
            link2_length_m: 0.7,
            link2_inertia_kg_m2: 0.05,
            payload_mass_kg: payload,
            ..ArmParams::default()
        };
        let builtin = Arm::new(params).unwrap();
        let from_urdf = two_link(&params);
        let x = SVector::<f64, 4>::new(q[0], q[1], qd[0], qd[1]);
        let u = SVector::<f64, 2>::from(tau);
        let want = builtin.derivative(&x, &u);
        let got = from_urdf.derivative(&x, &u);
        for i in 0..4 {
            prop_assert!((want[i] - got[i]).abs() <= 1e-12 * (1.0 + want[i].abs()),
                "x' [{}]: built-in {} URDF {}", i, want[i], got[i]);
        }
        // The tip: the built-in's plane (x, y) is the world's (x, z).
        let [tx, ty] = builtin.tip_position_m(&x);
        let point = from_urdf.point(&[q[0], q[1], qd[0], qd[1]]);
        prop_assert!((point[0] - tx).abs() < 1e-12 && point[1].abs() < 1e-12 && (point[2] - ty).abs() < 1e-12);
    }

    #[test]
    fn arm6_jacobians_agree_with_finite_differences(
        q in prop::array::uniform6(-2.0..2.0f64),
        qd in prop::array::uniform6(-2.0..2.0f64),
        tau in prop::array::uniform6(-5.0..5.0f64),
    ) {
        let robot = arm6(&[("payload_mass_kg", 0.5), ("payload_z_m", 0.02)]);
        let x = SVector::<f64, 12>::from_fn(|i, _| if i < 6 { q[i] } else { qd[i - 6] });
        let u = SVector::<f64, 6>::from(tau);
        let rk = Rk4::new(0.01, 1);
        let lin = rk.linearize(&robot, &x, &u);
        let stepped = rk.step(&robot, &x, &u);
        for i in 0..12 {
            prop_assert_eq!(stepped[i].to_bits(), lin.x_next[i].to_bits());
        }
        for j in 0..18 {
            let (mut xp, mut xm, mut up, mut um) = (x, x, u, u);
            let h = 1e-6;
            if j < 12 { xp[j] += h; xm[j] -= h; } else { up[j - 12] += h; um[j - 12] -= h; }
            let fd = (rk.step(&robot, &xp, &up) - rk.step(&robot, &xm, &um)) / (2.0 * h);
            for i in 0..12 {
                let ad = if j < 12 { lin.a[(i, j)] } else { lin.b[(i, j - 12)] };
                prop_assert!((ad - fd[i]).abs() <= 1e-6 * (1.0 + ad.abs()),
                    "d x+[{}] / d [{}]: AD {} FD {}", i, j, ad, fd[i]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The chain's own tangent (RNEA on duals, the mass matrix applied on
    /// f64) carried through RK4 gives the Jacobians of duals through the
    /// whole step, over two substeps and with the payload.
    #[test]
    fn arm6_tangent_linearisation_is_the_duals_one(
        q in prop::array::uniform6(-2.5..2.5f64),
        qd in prop::array::uniform6(-3.0..3.0f64),
        tau in prop::array::uniform6(-20.0..20.0f64),
    ) {
        let robot = arm6(&[("payload_mass_kg", 0.4), ("payload_x_m", 0.03)]);
        let x = SVector::<f64, 12>::from_fn(|i, _| if i < 6 { q[i] } else { qd[i - 6] });
        let u = SVector::<f64, 6>::from(tau);
        let rk = Rk4::new(0.03, 2);
        let fast = rk.linearize(&robot, &x, &u);
        let duals = rk.linearize_by_duals(&robot, &x, &u);
        prop_assert_eq!(fast.x_next, rk.step(&robot, &x, &u));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()));
        for (a, b) in fast.a.iter().zip(duals.a.iter()).chain(fast.b.iter().zip(duals.b.iter())) {
            prop_assert!(close(*a, *b), "tangent {} duals {}", a, b);
        }
    }

    /// Inverse kinematics puts the tip on a reachable target (where the
    /// tip is at angles within 0.6 rad of the posture per joint: the
    /// method is local, as a path's next point is near its last), started
    /// from the posture.
    #[test]
    fn arm6_reaches_the_points_it_can_reach(
        offset in prop::array::uniform6(-0.6..0.6f64),
    ) {
        let robot = arm6(&[]);
        let model = &robot.model;
        let posture = [0.0, 0.5, 1.1, 0.0, 0.7, 0.0];
        let mut x = [0.0; 12];
        for i in 0..6 {
            x[i] = posture[i] + offset[i];
        }
        let target = model.end_effector(&x).expect("a chain");
        let reached = model.reach(target, &posture, &posture).expect("a chain").expect("reached");
        let mut y = [0.0; 12];
        y[..6].copy_from_slice(&reached);
        let tip = model.end_effector(&y).unwrap();
        for k in 0..3 {
            prop_assert!((tip[k] - target[k]).abs() < 1e-6, "{:?} vs {:?}", tip, target);
        }
        for i in 0..6 {
            prop_assert!(reached[i] >= model.state_min[i] && reached[i] <= model.state_max[i]);
        }
    }
}

#[test]
fn a_point_out_of_reach_is_refused_with_the_distance() {
    let robot = arm6(&[]);
    let posture = [0.0, 0.5, 1.1, 0.0, 0.7, 0.0];
    let miss = robot
        .model
        .reach([3.0, 0.0, 0.5], &posture, &posture)
        .expect("a chain")
        .expect_err("3 m away");
    // The shoulder is 0.3 m up and the arm about 1 m long.
    assert!(miss.is_finite() && miss > 1.5, "{miss}");
}

#[test]
fn a_frictionless_arm_conserves_energy() {
    let robot = arm6(&[("friction_scale", 0.0), ("payload_mass_kg", 0.7)]);
    let mut x = SVector::<f64, 12>::from_column_slice(&[
        0.3, 0.8, -1.1, 0.5, 0.9, -0.4, 1.0, -0.5, 0.8, 2.0, -1.5, 3.0,
    ]);
    let u = SVector::<f64, 6>::zeros();
    let energy = |x: &SVector<f64, 12>| robot.model.mechanical_energy(x.as_slice()).unwrap();
    let e0 = energy(&x);
    let rk = Rk4::new(1e-4, 1);
    let mut travelled = 0.0;
    for _ in 0..20_000 {
        let next = rk.step(&robot, &x, &u);
        travelled += (next[1] - x[1]).abs();
        x = next;
    }
    let drift = (energy(&x) - e0).abs();
    assert!(
        travelled > 0.5,
        "the arm moved ({travelled} rad of shoulder travel)"
    );
    assert!(
        drift < 1e-7 * e0.abs().max(1.0),
        "energy {e0} J drifted by {drift} J over 2 s"
    );
    // With friction it loses energy.
    let robot = arm6(&[]);
    let mut y = SVector::<f64, 12>::from_column_slice(&[
        0.3, 0.8, -1.1, 0.5, 0.9, -0.4, 1.0, -0.5, 0.8, 2.0, -1.5, 3.0,
    ]);
    let e0 = robot.model.mechanical_energy(y.as_slice()).unwrap();
    for _ in 0..5_000 {
        y = rk.step(&robot, &y, &u);
    }
    assert!(robot.model.mechanical_energy(y.as_slice()).unwrap() < e0 - 1e-3);
}

#[test]
fn gravity_pulls_the_payload_down() {
    // Shoulder lifted 0.5 rad: the payload adds torque about the shoulder.
    let x = SVector::<f64, 12>::from_column_slice(&[
        0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ]);
    let u = SVector::<f64, 6>::zeros();
    let bare = arm6(&[]).derivative(&x, &u);
    let loaded = arm6(&[("payload_mass_kg", 2.0)]).derivative(&x, &u);
    // Tilted towards +x about +y: gravity tips it further.
    assert!(bare[7] > 0.0, "the tilted arm falls: {}", bare[7]);
    assert!(loaded[7] != bare[7]);
    // Upright and still: nothing moves.
    let rest = arm6(&[("payload_mass_kg", 2.0)]).derivative(&SVector::zeros(), &u);
    assert!(rest.iter().all(|v| v.abs() < 1e-12), "{rest:?}");
}

#[test]
fn arm6_limits_come_from_the_urdf() {
    let robot = arm6(&[]);
    let m = &robot.model;
    assert_eq!(m.kind, "urdf");
    assert_eq!(m.input_max, vec![80.0, 80.0, 40.0, 10.0, 10.0, 5.0]);
    assert_eq!(m.input_min[2], -40.0);
    assert_eq!(m.state_min[1], -2.0);
    assert_eq!(m.state_max[2], 2.6);
    assert_eq!(m.state_max[6], 2.5);
    assert_eq!(m.state_names[0], "shoulder_pan");
    assert_eq!(m.state_names[6], "shoulder_pan_rate");
    // Upright: the tool point 1.28 m above the base.
    let p = robot.point(&[0.0; 12]);
    assert!((p[2] - 1.28).abs() < 1e-12 && p[0].abs() < 1e-12, "{p:?}");
}

#[test]
fn an_evaluation_allocates_nothing() {
    let robot = arm6(&[("payload_mass_kg", 0.3)]);
    let x = SVector::<f64, 12>::from_fn(|i, _| 0.1 * i as f64);
    let u = SVector::<f64, 6>::from_element(0.5);
    let rk = Rk4::new(0.01, 1);
    let _ = rk.linearize(&robot, &x, &u);
    let (allocations, lin) = counting(|| rk.linearize(&robot, &x, &u));
    assert_eq!(allocations, 0);
    let (allocations, m) = counting(|| robot.model.motion(x.as_slice(), u.as_slice()));
    assert_eq!(allocations, 0);
    assert!(lin.x_next.iter().all(|v| v.is_finite()) && m.position_m[2].is_finite());
}

fn hostile(urdf: &str) -> String {
    let err = urdf::parse(
        urdf,
        "hostile.urdf",
        &UrdfOptions::default(),
        &BTreeMap::new(),
    )
    .expect_err("a hostile URDF is refused");
    let message = err.to_string();
    assert!(message.starts_with("hostile.urdf"), "{message}");
    message
}

const LINK: &str = r#"<inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>"#;

fn one_joint(link_b: &str) -> String {
    format!(
        r#"<robot name="r"><link name="a"/><link name="b">{link_b}</link>
        <joint name="j" type="revolute"><parent link="a"/><child link="b"/>
        <axis xyz="0 1 0"/><limit lower="-1" upper="1" effort="5" velocity="2"/></joint></robot>"#
    )
}

#[test]
fn hostile_urdf_files_are_errors_naming_the_element() {
    // The baseline loads (a 2x1 robot).
    let ok = urdf::parse(
        &one_joint(LINK),
        "ok.urdf",
        &UrdfOptions::default(),
        &BTreeMap::new(),
    );
    assert!(ok.is_ok(), "{ok:?}");

    let m = hostile(&one_joint(
        &LINK.replace(r#"mass value="1""#, r#"mass value="-1""#),
    ));
    assert!(m.contains("link `b`") && m.contains("mass"), "{m}");
    let m = hostile(&one_joint(""));
    assert!(m.contains("link `b`") && m.contains("zero mass"), "{m}");
    let m = hostile(&one_joint(
        &LINK.replace(r#"mass value="1""#, r#"mass value="0""#),
    ));
    assert!(m.contains("link `b`") && m.contains("mass"), "{m}");
    let m = hostile(&one_joint(&LINK.replace(r#"izz="0.01""#, r#"izz="-0.01""#)));
    assert!(m.contains("link `b` <inertial> <inertia>"), "{m}");
    // Positive moments that no rigid body has (1 > 0.01 + 0.01).
    let m = hostile(&one_joint(&LINK.replace(r#"izz="0.01""#, r#"izz="1""#)));
    assert!(m.contains("<inertia>"), "{m}");
    let m = hostile(&one_joint(&LINK.replace(r#"ixx="0.01""#, r#"ixx="NaN""#)));
    assert!(
        m.contains("link `b` <inertial>") && m.contains("NaN"),
        "{m}"
    );
    let m = hostile(&one_joint(LINK).replace(r#"effort="5""#, r#"effort="NaN""#));
    assert!(m.contains("joint `j` <limit effort>"), "{m}");
    let m = hostile(&one_joint(LINK).replace(r#"<axis xyz="0 1 0"/>"#, r#"<axis xyz="0 0 0"/>"#));
    assert!(m.contains("joint `j` <axis xyz>"), "{m}");
    // A joint whose child is missing.
    let m = hostile(&one_joint(LINK).replace(r#"<child link="b"/>"#, r#"<child link="c"/>"#));
    assert!(m.contains("joint `j`") && m.contains("`c`"), "{m}");
    // A loop: b is also a's parent.
    let looped = one_joint(LINK).replace(
        "</robot>",
        r#"<joint name="back" type="fixed"><parent link="b"/><child link="a"/></joint></robot>"#,
    );
    let m = hostile(&looped);
    assert!(m.contains("loop"), "{m}");
    // A link with two parents.
    let two_parents = format!(
        r#"<robot name="r"><link name="a"/><link name="c"/><link name="b">{LINK}</link>
        <joint name="j" type="revolute"><parent link="a"/><child link="b"/><axis xyz="0 1 0"/>
        <limit lower="-1" upper="1" effort="5" velocity="2"/></joint>
        <joint name="k" type="fixed"><parent link="c"/><child link="b"/></joint></robot>"#
    );
    let m = hostile(&two_parents);
    assert!(m.contains("link `b`") && m.contains("loop"), "{m}");
    // A controlled joint the file does not have.
    let err = urdf::parse(
        &one_joint(LINK),
        "hostile.urdf",
        &UrdfOptions {
            joints: Some(vec!["elbow".into()]),
            ..UrdfOptions::default()
        },
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("joints: `elbow`"), "{err}");
    // Not XML at all.
    let err = urdf::parse(
        "<robot",
        "hostile.urdf",
        &UrdfOptions::default(),
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, FileError::Read { .. }) && err.to_string().starts_with("hostile.urdf"),
        "{err}"
    );
    // An unknown parameter.
    let err = urdf::parse(
        &one_joint(LINK),
        "hostile.urdf",
        &UrdfOptions::default(),
        &BTreeMap::from([("payload".to_string(), 1.0)]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("params.payload"), "{err}");
}

#[test]
fn a_missing_file_names_it() {
    let err = urdf::load(
        Path::new("no/such.urdf"),
        &UrdfOptions::default(),
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("no/such.urdf"), "{err}");
}
