/**
 * A small volume of its own (a tmpfs, mounted here; root only) that a test or bench can fill
 * up: what a full disk under a node looks like, without touching any real disk.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const MiB = 1024 * 1024

export interface SmallVolume {
  /** Where it is mounted. */
  path: string
  /** Write a file until the volume is full (bounded by its size). */
  fill(): Promise<void>
  /** Remove what `fill` wrote. */
  unfill(): Promise<void>
  /** Unmount and remove it (also after a failure). */
  close(): Promise<void>
}

/** Whether this process may mount one (root). */
export const canMountVolume = process.getuid?.() === 0

export async function mountSmallVolume(sizeMiB: number): Promise<SmallVolume> {
  const path = await mkdtemp(join(tmpdir(), 'reef-volume-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', path])
  } catch (err) {
    await rm(path, { recursive: true, force: true })
    throw err
  }
  const filler = join(path, '.filler')
  let mounted = true
  return {
    path,
    async fill() {
      const f = await open(filler, 'a')
      try {
        for (const size of [MiB, 4096, 64]) {
          const chunk = Buffer.alloc(size, 7)
          for (let i = 0; i < (sizeMiB * MiB) / size + 1; i++) {
            try {
              await f.write(chunk)
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
              break
            }
          }
        }
      } finally {
        await f.close().catch(() => {})
      }
    },
    async unfill() {
      await rm(filler, { force: true })
    },
    async close() {
      if (mounted) execFileSync('umount', ['-l', path])
      mounted = false
      await rm(path, { recursive: true, force: true })
    }
  }
}
