// Stands in for the numcodecs blosc, lz4 and zstd codecs that NiiVue's Zarr
// reader (zarrita) would import on demand: the app opens NIfTI volumes only,
// so they are not built (see vite.config.ts). A Zarr volume using one of them
// fails with this error instead of loading 1.4 MB of decoders.
export default class UnsupportedCodec {
  static fromConfig(): never {
    throw new Error('Zarr volumes compressed with blosc, lz4 or zstd are not supported')
  }
}
