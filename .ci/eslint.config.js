import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'dist-*/**', 'coverage/**', 'archive/**', 'node_modules/**']
})
