export { DASHBOARD_HTML } from './page.ts'
