//! The scenario file's `[world]` section.

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::check::{fail, finite, finite_all, name, number, positive};
use crate::world::{Ground, Object, Path, Shape, World, Yaw};
use crate::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Temperature of every surface that does not set its own, K.
    #[serde(default = "default_ambient")]
    pub ambient_temperature_k: f64,
    /// Apparent temperature of the open sky for infrared cameras, K.
    #[serde(default = "default_sky_temperature")]
    pub sky_temperature_k: f64,
    #[serde(default = "default_sky_color")]
    pub sky_color_rgb: [u8; 3],
    #[serde(default)]
    pub ground: GroundConfig,
    #[serde(default)]
    pub objects: Vec<ObjectConfig>,
}

fn default_ambient() -> f64 {
    293.15
}
fn default_sky_temperature() -> f64 {
    250.0
}
fn default_sky_color() -> [u8; 3] {
    [150, 190, 235]
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            ambient_temperature_k: default_ambient(),
            sky_temperature_k: default_sky_temperature(),
            sky_color_rgb: default_sky_color(),
            ground: GroundConfig::default(),
            objects: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroundConfig {
    pub enabled: bool,
    pub height_m: f64,
    pub color_rgb: [u8; 3],
    /// Ambient when absent.
    pub temperature_k: Option<f64>,
}

impl Default for GroundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            height_m: 0.0,
            color_rgb: [110, 120, 100],
            temperature_k: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    pub name: String,
    pub shape: ShapeConfig,
    #[serde(default = "default_object_color")]
    pub color_rgb: [u8; 3],
    /// Ambient when absent.
    #[serde(default)]
    pub temperature_k: Option<f64>,
    #[serde(default)]
    pub path: Option<PathConfig>,
}

fn default_object_color() -> [u8; 3] {
    [180, 180, 180]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShapeConfig {
    Box {
        center_m: [f64; 3],
        size_m: [f64; 3],
        #[serde(default)]
        yaw_rad: f64,
    },
    /// Upright; `center_m` is the centre of its axis.
    Cylinder {
        center_m: [f64; 3],
        radius_m: f64,
        height_m: f64,
    },
    Sphere {
        center_m: [f64; 3],
        radius_m: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PathConfig {
    Linear {
        velocity_mps: [f64; 3],
    },
    Circle {
        radius_m: f64,
        period_secs: f64,
        #[serde(default)]
        phase_rad: f64,
    },
    Waypoints {
        offsets_m: Vec<[f64; 3]>,
        times_secs: Vec<f64>,
        #[serde(default)]
        looped: bool,
    },
}

impl WorldConfig {
    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("world.ambient_temperature_k", self.ambient_temperature_k)?;
        positive("world.sky_temperature_k", self.sky_temperature_k)?;
        finite("world.ground.height_m", self.ground.height_m)?;
        if let Some(t) = self.ground.temperature_k {
            positive("world.ground.temperature_k", t)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, o) in self.objects.iter().enumerate() {
            name(&format!("world.objects[{i}].name"), &o.name)?;
            let key = format!("world.objects.{}", o.name);
            if !seen.insert(o.name.as_str()) {
                return Err(fail(&format!("{key}.name"), "a name used once", &o.name));
            }
            if let Some(t) = o.temperature_k {
                positive(&format!("{key}.temperature_k"), t)?;
            }
            o.shape.validate(&format!("{key}.shape"))?;
            if let Some(p) = &o.path {
                p.validate(&format!("{key}.path"))?;
            }
        }
        Ok(())
    }

    /// Validates, then builds the scene at t = 0.
    pub fn build(&self) -> Result<World, ConfigError> {
        self.validate()?;
        let ambient = self.ambient_temperature_k;
        let mut world = World::new(ambient, self.sky_temperature_k, self.sky_color_rgb);
        if self.ground.enabled {
            world = world.with_ground(Ground {
                height_m: self.ground.height_m,
                color_rgb: self.ground.color_rgb,
                temperature_k: self.ground.temperature_k.unwrap_or(ambient),
            });
        }
        for o in &self.objects {
            let mut object = Object::new(
                &o.name,
                o.shape.shape(),
                o.color_rgb,
                o.temperature_k.unwrap_or(ambient),
            );
            if let Some(p) = &o.path {
                object = object.with_path(p.path());
            }
            world.add_object(object);
        }
        Ok(world)
    }
}

impl ShapeConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            ShapeConfig::Box {
                center_m,
                size_m,
                yaw_rad,
            } => {
                finite_all(&format!("{key}.center_m"), center_m)?;
                for (i, s) in size_m.iter().enumerate() {
                    positive(&format!("{key}.size_m[{i}]"), *s)?;
                }
                finite(&format!("{key}.yaw_rad"), *yaw_rad)
            }
            ShapeConfig::Cylinder {
                center_m,
                radius_m,
                height_m,
            } => {
                finite_all(&format!("{key}.center_m"), center_m)?;
                positive(&format!("{key}.radius_m"), *radius_m)?;
                positive(&format!("{key}.height_m"), *height_m)
            }
            ShapeConfig::Sphere { center_m, radius_m } => {
                finite_all(&format!("{key}.center_m"), center_m)?;
                positive(&format!("{key}.radius_m"), *radius_m)
            }
        }
    }

    pub fn shape(&self) -> Shape {
        match *self {
            ShapeConfig::Box {
                center_m,
                size_m,
                yaw_rad,
            } => Shape::Box {
                center: Point3::from(center_m),
                half_extents: Vector3::from(size_m) * 0.5,
                yaw: Yaw::new(yaw_rad),
            },
            ShapeConfig::Cylinder {
                center_m,
                radius_m,
                height_m,
            } => Shape::Cylinder {
                center: Point3::from(center_m),
                radius: radius_m,
                half_height: 0.5 * height_m,
            },
            ShapeConfig::Sphere { center_m, radius_m } => Shape::Sphere {
                center: Point3::from(center_m),
                radius: radius_m,
            },
        }
    }
}

impl PathConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            PathConfig::Linear { velocity_mps } => {
                finite_all(&format!("{key}.velocity_mps"), velocity_mps)
            }
            PathConfig::Circle {
                radius_m,
                period_secs,
                phase_rad,
            } => {
                positive(&format!("{key}.radius_m"), *radius_m)?;
                positive(&format!("{key}.period_secs"), *period_secs)?;
                finite(&format!("{key}.phase_rad"), *phase_rad)
            }
            PathConfig::Waypoints {
                offsets_m,
                times_secs,
                ..
            } => {
                if offsets_m.is_empty() || offsets_m.len() != times_secs.len() {
                    return Err(fail(
                        &format!("{key}.times_secs"),
                        "one time per offset, at least one",
                        format!("{} times for {} offsets", times_secs.len(), offsets_m.len()),
                    ));
                }
                for (i, o) in offsets_m.iter().enumerate() {
                    finite_all(&format!("{key}.offsets_m[{i}]"), o)?;
                }
                finite_all(&format!("{key}.times_secs"), times_secs)?;
                for i in 1..times_secs.len() {
                    if times_secs[i] <= times_secs[i - 1] {
                        return Err(fail(
                            &format!("{key}.times_secs[{i}]"),
                            "strictly increasing times",
                            number(times_secs[i]),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    pub fn path(&self) -> Path {
        match self {
            PathConfig::Linear { velocity_mps } => Path::Linear {
                velocity_mps: Vector3::from(*velocity_mps),
            },
            PathConfig::Circle {
                radius_m,
                period_secs,
                phase_rad,
            } => Path::Circle {
                radius_m: *radius_m,
                period_secs: *period_secs,
                phase_rad: *phase_rad,
            },
            PathConfig::Waypoints {
                offsets_m,
                times_secs,
                looped,
            } => Path::Waypoints {
                offsets_m: offsets_m.iter().map(|o| Vector3::from(*o)).collect(),
                times_secs: times_secs.clone(),
                looped: *looped,
            },
        }
    }
}
