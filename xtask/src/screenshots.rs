//! The browser scenario's screenshots, each held against a stored baseline: the pages as they
//! looked before issue 14 moved the stylesheet out of the page (main at c7934b5).
//!
//! Every screenshot goes to `target/screenshots/<store>/NN-step.png`. Beside it,
//! `side-by-side/NN-step.png` shows three panels: the baseline, this run, and where they differ
//! (red: a pixel that changed; blue: an area left out of the comparison; grey: the same).
//!
//! Left out are only the values that change from run to run: the login time, the token's expiry,
//! the claims' times (`iat`, `exp`, `auth_time`, `nbf`) and the mock IdP's port. Each such value is found in the page's text
//! just before the screenshot, and its area runs from the value to the right edge of its block,
//! so a value a little wider or narrower than the baseline's still fits. Every other pixel must
//! be the same, or the scenario fails, naming the side-by-side files to look at. The text cursor
//! is hidden before each screenshot (in the baseline's too), since it blinks.
//!
//! After a change meant to alter how pages look, `SESAME_SCREENSHOT_BASELINE=update` makes the
//! run copy its screenshots into `xtask/screenshot-baseline/` instead of comparing them.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::json;

use crate::webdriver::Browser;
use crate::{emptied, project_root, target_dir};
use sesame_testkit::bins::Store;

/// Set to `update` to refresh the baseline from this run.
const UPDATE_VAR: &str = "SESAME_SCREENSHOT_BASELINE";

/// Finds the values that differ from run to run in the page's text and returns their areas as
/// `[left, top, width, height]` in CSS pixels of the viewport, plus the viewport's width (to
/// scale to the screenshot's pixels). Each area reaches the right edge of the value's block.
/// It also hides the text cursor, which blinks and so would show in some runs and not others.
const DYNAMIC_AREAS_JS: &str = r#"
for (const field of document.querySelectorAll('input, textarea')) {
  field.style.caretColor = 'transparent';
}
const patterns = [
  /\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC/g,
  /(?<="(iat|exp|auth_time|nbf)": )\d+/g,
  /127\.0\.0\.1:\d+/g,
];
const areas = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  let block = node.parentElement;
  while (block.parentElement && getComputedStyle(block).display.startsWith('inline')) {
    block = block.parentElement;
  }
  const right = block.getBoundingClientRect().right;
  for (const pattern of patterns) {
    for (const match of node.data.matchAll(pattern)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      for (const r of range.getClientRects()) {
        areas.push([r.left, r.top, Math.max(r.width, right - r.left), r.height]);
      }
    }
  }
}
return [innerWidth, areas];
"#;

/// Numbered screenshots in `target/screenshots/<store>/`, compared as they are taken.
pub struct Screenshots {
    /// The directory, emptied when the scenario starts.
    dir: PathBuf,
    /// Where the baseline's `NN-step.png` files are.
    baseline: PathBuf,
    /// Copy into the baseline rather than compare.
    update: bool,
    /// The number of the next screenshot.
    next: u32,
    /// Each screenshot's file name and what its comparison found.
    compared: Vec<(String, Comparison)>,
}

/// What one screenshot's comparison with its baseline found.
enum Comparison {
    /// No difference outside the left-out areas (how many there were).
    Same { left_out: usize },
    /// Pixels that differ outside them, or a missing or differently sized baseline.
    Differs(String),
}

impl Screenshots {
    /// Empties (or creates) `target/screenshots/<store>/` and its `side-by-side/`.
    pub fn new(store: Store) -> Result<Self> {
        let dir = emptied(target_dir().join("screenshots").join(store.as_str()))?;
        emptied(dir.join("side-by-side"))?;
        Ok(Self {
            dir,
            baseline: project_root().join("xtask").join("screenshot-baseline"),
            update: std::env::var(UPDATE_VAR).is_ok_and(|value| value == "update"),
            next: 1,
            compared: Vec::new(),
        })
    }

    /// Saves `NN-name.png` and compares it with the baseline's.
    pub fn take(&mut self, browser: &Browser, name: &str) -> Result<()> {
        let file = format!("{:02}-{name}.png", self.next);
        self.next += 1;
        let found = browser.execute(DYNAMIC_AREAS_JS, json!([]))?;
        let path = self.dir.join(&file);
        browser.screenshot(&path)?;
        if self.update {
            return Ok(());
        }
        let shot = Image::read(&path)?;
        let areas = dynamic_areas(&found, shot.width)?;
        let comparison = match Image::read(&self.baseline.join(&file)) {
            Ok(baseline) => {
                let comparison = compare(&baseline, &shot, &areas);
                side_by_side(&baseline, &shot, &areas)
                    .write(&self.dir.join("side-by-side").join(&file))?;
                comparison
            }
            Err(error) => Comparison::Differs(format!("no baseline: {error:#}")),
        };
        self.compared.push((file, comparison));
        Ok(())
    }

    /// Prints what the comparisons found and fails if any screenshot differs from its baseline;
    /// in update mode, replaces the baseline with this run's screenshots instead.
    pub fn finish(self) -> Result<()> {
        if self.update {
            fs::create_dir_all(&self.baseline)?;
            for entry in fs::read_dir(&self.baseline)? {
                let path = entry?.path();
                if path.extension().is_some_and(|ext| ext == "png") {
                    fs::remove_file(&path)?;
                }
            }
            for entry in fs::read_dir(&self.dir)? {
                let path = entry?.path();
                if let (true, Some(name)) = (path.is_file(), path.file_name()) {
                    fs::copy(&path, self.baseline.join(name))?;
                }
            }
            println!("      screenshots copied to {}", self.baseline.display());
            return Ok(());
        }
        let mut differing = Vec::new();
        let mut left_out_in = 0;
        for (file, comparison) in &self.compared {
            match comparison {
                Comparison::Same { left_out } => left_out_in += usize::from(*left_out > 0),
                Comparison::Differs(how) => differing.push(format!("{file}: {how}")),
            }
        }
        let same = self.compared.len() - differing.len();
        println!(
            "      screenshots: {same} of {} the same as the baseline ({left_out_in} with run-to-run \
             values left out); side by side in {}",
            self.compared.len(),
            self.dir.join("side-by-side").display()
        );
        ensure!(
            differing.is_empty(),
            "screenshots differ from xtask/screenshot-baseline/ (look at the side-by-side files; \
             if the change is meant, rerun with {UPDATE_VAR}=update): {}",
            differing.join("; ")
        );
        Ok(())
    }

    /// Saves `NN-name.png` and `NN-name-narrow.png` at `narrow` (a phone's width), checking that
    /// the narrow page does not scroll sideways, then restores the `wide` window.
    pub fn wide_and_narrow(
        &mut self,
        browser: &Browser,
        wide: (u32, u32),
        narrow: (u32, u32),
        name: &str,
    ) -> Result<()> {
        self.take(browser, name)?;
        browser.resize(narrow)?;
        // The screenshot first, so a failure below can be looked at.
        self.take(browser, &format!("{name}-narrow"))?;
        let overflow = browser.execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            json!([]),
        )?;
        ensure!(
            overflow.as_i64().is_some_and(|px| px <= 0),
            "at {} px wide the {name} page scrolls sideways by {overflow} px",
            narrow.0
        );
        browser.resize(wide)?;
        Ok(())
    }
}

/// An area of the screenshot, in its pixels: `[left, top, right, bottom)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Area {
    left: u32,
    top: u32,
    right: u32,
    bottom: u32,
}

impl Area {
    fn contains(&self, x: u32, y: u32) -> bool {
        (self.left..self.right).contains(&x) && (self.top..self.bottom).contains(&y)
    }
}

/// The script's `[innerWidth, [[left, top, width, height], ...]]` as areas of a screenshot
/// `width` pixels wide, rounded outwards and one pixel wider on each side for anti-aliasing.
fn dynamic_areas(found: &serde_json::Value, width: u32) -> Result<Vec<Area>> {
    let parsed: Option<(f64, Vec<[f64; 4]>)> = serde_json::from_value(found.clone()).ok();
    let Some((viewport_width, rects)) = parsed.filter(|(w, _)| *w > 0.0) else {
        bail!("the page's run-to-run values came back as {found}");
    };
    let scale = f64::from(width) / viewport_width;
    let pixel = |css: f64| (css * scale).max(0.0);
    Ok(rects
        .iter()
        .map(|&[left, top, w, h]| Area {
            left: (pixel(left).floor() as u32).saturating_sub(1),
            top: (pixel(top).floor() as u32).saturating_sub(1),
            right: pixel(left + w).ceil() as u32 + 1,
            bottom: pixel(top + h).ceil() as u32 + 1,
        })
        .collect())
}

/// An RGB image, 3 bytes per pixel, row after row.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    /// Reads a PNG as RGB (dropping alpha: screenshots are opaque).
    fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .with_context(|| format!("{} is not a PNG", path.display()))?;
        let mut buffer = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader
            .next_frame(&mut buffer)
            .with_context(|| format!("cannot decode {}", path.display()))?;
        buffer.truncate(info.buffer_size());
        let channels = info.color_type.samples();
        ensure!(
            channels >= 3,
            "{} is not a colour image ({:?})",
            path.display(),
            info.color_type
        );
        let rgb = buffer
            .chunks_exact(channels)
            .flat_map(|pixel| [pixel[0], pixel[1], pixel[2]])
            .collect();
        Ok(Self {
            width: info.width,
            height: info.height,
            rgb,
        })
    }

    fn blank(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            rgb: vec![255; width as usize * height as usize * 3],
        }
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    fn set(&mut self, x: u32, y: u32, colour: [u8; 3]) {
        let at = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb[at..at + 3].copy_from_slice(&colour);
    }

    fn write(&self, path: &Path) -> Result<()> {
        let file =
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgb)?;
        Ok(writer.finish()?)
    }
}

/// Pixels that differ outside `areas`, or a size that differs.
fn compare(baseline: &Image, shot: &Image, areas: &[Area]) -> Comparison {
    if (baseline.width, baseline.height) != (shot.width, shot.height) {
        return Comparison::Differs(format!(
            "{}×{} against the baseline's {}×{}",
            shot.width, shot.height, baseline.width, baseline.height
        ));
    }
    let mut differing = 0u64;
    for y in 0..shot.height {
        for x in 0..shot.width {
            let left_out = areas.iter().any(|area| area.contains(x, y));
            differing += u64::from(!left_out && baseline.pixel(x, y) != shot.pixel(x, y));
        }
    }
    match differing {
        0 => Comparison::Same {
            left_out: areas.len(),
        },
        n => Comparison::Differs(format!("{n} pixels differ")),
    }
}

/// Gap between the panels, in pixels.
const GAP: u32 = 16;

/// Baseline | this run | the differences, in one image.
fn side_by_side(baseline: &Image, shot: &Image, areas: &[Area]) -> Image {
    let (width, height) = (
        baseline.width.max(shot.width),
        baseline.height.max(shot.height),
    );
    let mut out = Image::blank(width * 3 + GAP * 2, height);
    for (panel, image) in [(0, baseline), (1, shot)] {
        for y in 0..image.height {
            for x in 0..image.width {
                out.set(panel * (width + GAP) + x, y, image.pixel(x, y));
            }
        }
    }
    let inside = |image: &Image, x, y| x < image.width && y < image.height;
    for y in 0..height {
        for x in 0..width {
            let colour = if !inside(baseline, x, y) || !inside(shot, x, y) {
                [255, 0, 0]
            } else if areas.iter().any(|area| area.contains(x, y)) {
                [120, 160, 255]
            } else if baseline.pixel(x, y) != shot.pixel(x, y) {
                [255, 0, 0]
            } else {
                // The page, faded to grey, so the differences stand out and still have context.
                let [r, g, b] = shot.pixel(x, y);
                let grey = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
                [(150 + grey * 100 / 255) as u8; 3]
            };
            out.set(2 * (width + GAP) + x, y, colour);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32, fill: [u8; 3]) -> Image {
        let mut image = Image::blank(width, height);
        for y in 0..height {
            for x in 0..width {
                image.set(x, y, fill);
            }
        }
        image
    }

    #[test]
    fn a_changed_pixel_counts_unless_it_is_in_a_left_out_area() {
        let baseline = image(8, 4, [10, 20, 30]);
        let mut shot = image(8, 4, [10, 20, 30]);
        shot.set(5, 2, [10, 20, 31]);
        assert!(matches!(
            compare(&baseline, &shot, &[]),
            Comparison::Differs(how) if how == "1 pixels differ"
        ));
        let area = Area {
            left: 4,
            top: 1,
            right: 8,
            bottom: 3,
        };
        assert!(matches!(
            compare(&baseline, &shot, &[area]),
            Comparison::Same { left_out: 1 }
        ));
        let beside = Area { left: 6, ..area };
        assert!(matches!(
            compare(&baseline, &shot, &[beside]),
            Comparison::Differs(_)
        ));
        assert!(matches!(
            compare(&image(8, 5, [10, 20, 30]), &shot, &[area]),
            Comparison::Differs(how) if how.contains("8×4 against the baseline's 8×5")
        ));
    }

    #[test]
    fn areas_are_scaled_to_the_screenshot_and_rounded_outwards() {
        let found = json!([640.0, [[10.5, 20.2, 30.0, 12.0]]]);
        let areas = dynamic_areas(&found, 1280).unwrap();
        assert_eq!(
            areas,
            [Area {
                left: 20,
                top: 39,
                right: 82,
                bottom: 66
            }]
        );
        assert!(dynamic_areas(&json!({"error": "no"}), 1280).is_err());
    }

    #[test]
    fn side_by_side_marks_changes_red_and_round_trips_through_png() {
        let baseline = image(4, 3, [200, 200, 200]);
        let mut shot = image(4, 3, [200, 200, 200]);
        shot.set(1, 1, [0, 0, 0]);
        let out = side_by_side(&baseline, &shot, &[]);
        assert_eq!((out.width, out.height), (4 * 3 + GAP * 2, 3));
        assert_eq!(out.pixel(2 * (4 + GAP) + 1, 1), [255, 0, 0]);
        assert_eq!(out.pixel(4 + GAP + 1, 1), [0, 0, 0]);
        let dir = std::env::temp_dir().join(format!("sesame-shots-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.png");
        out.write(&path).unwrap();
        let read = Image::read(&path).unwrap();
        assert_eq!(
            (read.width, read.height, read.rgb),
            (out.width, out.height, out.rgb)
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
