import './styles.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { App } from './app.ts';
import { interceptLinks } from './router.ts';

/** The dashboard's entry: renders the app into #app and keeps its links client-side. */
const root = document.getElementById('app') as HTMLElement;
root.textContent = '';
interceptLinks(document.body);
render(html`<${App} />`, root);
