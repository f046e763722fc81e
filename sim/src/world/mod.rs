//! The scene: a ground plane and solid primitives, each with a colour and a
//! surface temperature, some moving on scripted paths; ray casting against
//! it and distance queries for scoring.

mod bvh;
mod path;
mod ray;
mod shape;

pub use bvh::Bvh;
pub use path::Path;
pub use ray::{Aabb, Hit, Ray};
pub use shape::{Shape, Yaw};

use nalgebra::{Point3, Vector3};

/// The horizontal plane `z = height_m`, seen from above.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ground {
    pub height_m: f64,
    pub color_rgb: [u8; 3],
    pub temperature_k: f64,
}

/// One solid in the scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub name: String,
    /// The shape as it is now (moved along `path` by [`World::set_time`]).
    pub shape: Shape,
    /// Where the shape sits at zero path offset.
    pub base_center: Point3<f64>,
    pub color_rgb: [u8; 3],
    pub temperature_k: f64,
    pub path: Option<Path>,
}

impl Object {
    pub fn new(name: &str, shape: Shape, color_rgb: [u8; 3], temperature_k: f64) -> Self {
        Self {
            name: name.to_owned(),
            shape,
            base_center: shape.center(),
            color_rgb,
            temperature_k,
            path: None,
        }
    }

    pub fn with_path(mut self, path: Path) -> Self {
        self.path = Some(path);
        self
    }
}

/// What a ray met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Ground,
    Object(usize),
}

/// A hit and the surface it is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceHit {
    pub hit: Hit,
    pub surface: Surface,
}

/// The scene at one instant.
#[derive(Debug, Clone)]
pub struct World {
    pub ambient_temperature_k: f64,
    /// Apparent temperature of the sky for the infrared camera, K.
    pub sky_temperature_k: f64,
    pub sky_color_rgb: [u8; 3],
    pub ground: Option<Ground>,
    objects: Vec<Object>,
    bvh: Bvh,
    time_secs: f64,
}

impl World {
    /// An empty scene (no ground, no objects).
    pub fn new(ambient_temperature_k: f64, sky_temperature_k: f64, sky_color_rgb: [u8; 3]) -> Self {
        Self {
            ambient_temperature_k,
            sky_temperature_k,
            sky_color_rgb,
            ground: None,
            objects: Vec::new(),
            bvh: Bvh::default(),
            time_secs: 0.0,
        }
    }

    pub fn with_ground(mut self, ground: Ground) -> Self {
        self.ground = Some(ground);
        self
    }

    /// Adds an object, placed for the current time.
    pub fn add_object(&mut self, object: Object) {
        self.objects.push(object);
        self.place_objects();
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    pub fn time_secs(&self) -> f64 {
        self.time_secs
    }

    /// Moves the scripted objects to where they are at `t_secs`.
    pub fn set_time(&mut self, t_secs: f64) {
        self.time_secs = t_secs;
        if self.objects.iter().any(|o| o.path.is_some()) {
            self.place_objects();
        }
    }

    fn place_objects(&mut self) {
        let t = self.time_secs;
        for o in &mut self.objects {
            let offset = o.path.as_ref().map_or(Vector3::zeros(), |p| p.offset(t));
            o.shape.set_center(o.base_center + offset);
        }
        let boxes: Vec<Aabb> = self.objects.iter().map(|o| o.shape.aabb()).collect();
        self.bvh = Bvh::build(&boxes);
    }

    /// The nearest surface the ray meets before `t_max`.
    #[inline]
    pub fn cast(&self, ray: &Ray, t_max: f64) -> Option<SurfaceHit> {
        let mut best = self.cast_ground(ray, t_max);
        let t_max = best.map_or(t_max, |b| b.hit.t);
        let objects = &self.objects;
        self.bvh.traverse(ray, t_max, |i, t_max| {
            match objects[i].shape.intersect(ray, t_max) {
                Some(hit) => {
                    best = Some(SurfaceHit {
                        hit,
                        surface: Surface::Object(i),
                    });
                    hit.t
                }
                None => t_max,
            }
        });
        best
    }

    /// Where the ray meets the ground before `t_max`, if it does.
    #[inline]
    pub fn cast_ground(&self, ray: &Ray, t_max: f64) -> Option<SurfaceHit> {
        let g = self.ground.as_ref()?;
        if ray.dir.z < 0.0 && ray.origin.z > g.height_m {
            let t = (g.height_m - ray.origin.z) / ray.dir.z;
            if t < t_max {
                return Some(SurfaceHit {
                    hit: Hit {
                        t,
                        normal: Vector3::z(),
                    },
                    surface: Surface::Ground,
                });
            }
        }
        None
    }

    pub fn color_rgb(&self, surface: Surface) -> [u8; 3] {
        match surface {
            Surface::Ground => self.ground.map_or(self.sky_color_rgb, |g| g.color_rgb),
            Surface::Object(i) => self
                .objects
                .get(i)
                .map_or(self.sky_color_rgb, |o| o.color_rgb),
        }
    }

    pub fn temperature_k(&self, surface: Surface) -> f64 {
        match surface {
            Surface::Ground => self
                .ground
                .map_or(self.ambient_temperature_k, |g| g.temperature_k),
            Surface::Object(i) => self
                .objects
                .get(i)
                .map_or(self.ambient_temperature_k, |o| o.temperature_k),
        }
    }

    /// Signed distance from `p` to the nearest object's surface (negative
    /// inside one), m; infinite when there are no objects. The ground is
    /// not an obstacle here.
    pub fn distance_to_nearest_obstacle(&self, p: &Point3<f64>) -> f64 {
        self.objects
            .iter()
            .map(|o| o.shape.signed_distance(p))
            .fold(f64::INFINITY, f64::min)
    }

    /// Signed distance from `p` to the nearest surface, ground included, m.
    pub fn distance_to_nearest_surface(&self, p: &Point3<f64>) -> f64 {
        let ground = self.ground.map_or(f64::INFINITY, |g| p.z - g.height_m);
        ground.min(self.distance_to_nearest_obstacle(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> World {
        let mut w = World::new(293.15, 250.0, [100, 150, 255]).with_ground(Ground {
            height_m: 0.0,
            color_rgb: [90, 90, 90],
            temperature_k: 293.15,
        });
        w.add_object(Object::new(
            "ball",
            Shape::Sphere {
                center: Point3::new(5.0, 0.0, 1.0),
                radius: 1.0,
            },
            [255, 0, 0],
            350.0,
        ));
        w
    }

    #[test]
    fn cast_picks_the_nearest_of_ground_and_object() {
        let w = scene();
        let ray = Ray::new(Point3::new(0.0, 0.0, 1.0), Vector3::x());
        let h = w.cast(&ray, 100.0).expect("ball");
        assert_eq!(h.surface, Surface::Object(0));
        assert!((h.hit.t - 4.0).abs() < 1e-12);
        let down = Ray::new(Point3::new(0.0, 0.0, 1.0), Vector3::new(1.0, 0.0, -1.0));
        assert_eq!(
            w.cast(&down, 100.0).map(|h| h.surface),
            Some(Surface::Ground)
        );
        let up = Ray::new(Point3::new(0.0, 0.0, 1.0), Vector3::z());
        assert!(w.cast(&up, 100.0).is_none());
    }

    #[test]
    fn moving_object_follows_its_path_and_distances_follow_it() {
        let mut w = scene();
        let mut o = Object::new(
            "cart",
            Shape::Sphere {
                center: Point3::new(0.0, 10.0, 1.0),
                radius: 0.5,
            },
            [0, 0, 255],
            300.0,
        );
        o = o.with_path(Path::Linear {
            velocity_mps: Vector3::new(0.0, -1.0, 0.0),
        });
        w.add_object(o);
        let p = Point3::new(0.0, 0.0, 1.0);
        assert!((w.distance_to_nearest_obstacle(&p) - 4.0).abs() < 1e-12);
        w.set_time(8.0);
        assert!((w.distance_to_nearest_obstacle(&p) - 1.5).abs() < 1e-12);
        assert!((w.distance_to_nearest_surface(&p) - 1.0).abs() < 1e-12);
    }
}
