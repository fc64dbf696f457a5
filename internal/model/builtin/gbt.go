package builtin

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// GBTParams configure gradient-boosted regression trees on binary log-loss
// (Friedman's TreeBoost, as scikit-learn's GradientBoostingClassifier): each
// tree is fitted by least squares to the residuals y − p on a row subsample
// drawn without replacement, its leaves take one Newton step Σr / (Σp(1−p) +
// L2), shrunk by LearningRate.
type GBTParams struct {
	Trees        int     `json:"trees"`
	Depth        int     `json:"depth"`
	LearningRate float64 `json:"learning_rate"`
	MinLeaf      int     `json:"min_leaf"`
	Subsample    float64 `json:"subsample"`
	L2           float64 `json:"l2"`
	Seed         uint64  `json:"seed"`
}

// DefaultGBTParams returns the defaults: 200 trees of depth 3, learning rate
// 0.05, at least 5 rows per leaf, 80 % row subsampling, no leaf L2, seed 1.
func DefaultGBTParams() GBTParams {
	return GBTParams{Trees: 200, Depth: 3, LearningRate: 0.05, MinLeaf: 5, Subsample: 0.8, Seed: 1}
}

// Algorithm implements Params.
func (*GBTParams) Algorithm() string { return AlgoGBT }

func (p *GBTParams) validate() error {
	switch {
	case p.Trees < 1 || p.Trees > 100000:
		return fmt.Errorf("%w trees=%d: must be in [1, 100000]", ErrBadParam, p.Trees)
	case p.Depth < 1 || p.Depth > 16:
		return fmt.Errorf("%w depth=%d: must be in [1, 16]", ErrBadParam, p.Depth)
	case !(p.LearningRate > 0 && p.LearningRate <= 1):
		return fmt.Errorf("%w learning_rate=%g: must be in (0, 1]", ErrBadParam, p.LearningRate)
	case p.MinLeaf < 1:
		return fmt.Errorf("%w min_leaf=%d: must be ≥ 1", ErrBadParam, p.MinLeaf)
	case !(p.Subsample > 0 && p.Subsample <= 1):
		return fmt.Errorf("%w subsample=%g: must be in (0, 1]", ErrBadParam, p.Subsample)
	case p.L2 < 0:
		return fmt.Errorf("%w l2=%g: must be ≥ 0", ErrBadParam, p.L2)
	}
	return nil
}

// Tree is one regression tree as parallel arrays indexed by node; node 0 is
// the root. A leaf has Feature −1 and contributes Value (already shrunk by
// the learning rate); an inner node sends x to Left when x[Feature] ≤
// Threshold, else to Right. Children always have larger indices than their
// parent.
type Tree struct {
	Feature   []int32   `json:"feature"`
	Threshold []float64 `json:"threshold"`
	Left      []int32   `json:"left"`
	Right     []int32   `json:"right"`
	Value     []float64 `json:"value"`
}

// GBT is a fitted boosted ensemble: p = σ(Init + Σ tree values).
type GBT struct {
	Features []string `json:"features"`
	Init     float64  `json:"init"`
	Trees    []Tree   `json:"trees"`

	nodes []node  // all trees flattened
	roots []int32 // index of each tree's root in nodes

	// Complete-tree form used by Prob when every tree is at most
	// maxCompleteDepth deep: each tree padded to depth `depth` (a shallow
	// leaf is repeated below itself), stored level order in flat arrays:
	// inner node i of tree t at cFeat/cThr[t*inner+i], children 2i+1 and
	// 2i+2, leaf j at cLeaf[t*(inner+1)+j].
	depth int
	small []smallTree // trees of depth ≤ 4 in fixed-size arrays (no bounds checks)
	cFeat []int32
	cThr  []float64
	cLeaf []float64
}

// smallTree is one padded complete tree of depth ≤ 4 in fixed-size arrays,
// so the walk needs no bounds checks.
type smallTree struct {
	thr  [15]float64
	leaf [16]float64
	feat [15]int32
}

// maxCompleteDepth bounds the padded layout (2^depth leaves per tree).
const maxCompleteDepth = 8

// node is the flat inference form; left/right index nodes directly.
type node struct {
	threshold float64
	value     float64
	feature   int32
	left      int32
	right     int32
}

// Prob implements Model. It walks flat arrays and does not allocate.
func (m *GBT) Prob(x []float64) float64 {
	if m.small != nil {
		return sigmoid(m.smallSum(x))
	}
	if m.cFeat != nil {
		return sigmoid(m.completeSum(x))
	}
	s := m.Init
	nodes := m.nodes
	for _, i := range m.roots {
		for {
			n := &nodes[i]
			if n.feature < 0 {
				s += n.value
				break
			}
			if x[n.feature] <= n.threshold {
				i = n.left
			} else {
				i = n.right
			}
		}
	}
	return sigmoid(s)
}

// completeSum walks the padded complete trees level by level with a
// branch-free step (SETcc): right when x > threshold or x is NaN, as in the
// tree form. (Evaluating every node of a tree into a bit mask first was
// measured slower: it does 2^depth−1 comparisons instead of depth.)
func (m *GBT) completeSum(x []float64) float64 {
	s := m.Init
	inner := 1<<m.depth - 1
	feat, thr, leaf := m.cFeat, m.cThr, m.cLeaf
	for off, loff := 0, 0; off < len(feat); off, loff = off+inner, loff+inner+1 {
		f, t := feat[off:off+inner], thr[off:off+inner]
		i := 0
		for range m.depth {
			c := 1
			if x[f[i]] <= t[i] {
				c = 0
			}
			i = 2*i + 1 + c
		}
		s += leaf[loff+i-inner]
	}
	return s
}

// smallSum walks the fixed-size trees (depth ≤ 4) like completeSum.
func (m *GBT) smallSum(x []float64) float64 {
	s := m.Init
	d := m.depth
	for k := range m.small {
		t := &m.small[k]
		i := 0
		for range d {
			c := 1
			if x[t.feat[i&15]] <= t.thr[i&15] {
				c = 0
			}
			i = 2*i + 1 + c
		}
		s += t.leaf[(i-(1<<d-1))&15]
	}
	return s
}

// buildComplete fills the padded layout from nodes, or leaves it nil when a
// tree is deeper than maxCompleteDepth.
func (m *GBT) buildComplete() {
	m.cFeat, m.cThr, m.cLeaf, m.depth, m.small = nil, nil, nil, 0, nil
	var depthOf func(i int32) int
	depthOf = func(i int32) int {
		n := m.nodes[i]
		if n.feature < 0 {
			return 0
		}
		return 1 + max(depthOf(n.left), depthOf(n.right))
	}
	d := 1
	for _, r := range m.roots {
		d = max(d, depthOf(r))
		if d > maxCompleteDepth {
			return
		}
	}
	inner := 1<<d - 1
	feat := make([]int32, len(m.roots)*inner)
	thr := make([]float64, len(m.roots)*inner)
	leaf := make([]float64, len(m.roots)*(inner+1))
	var fill func(t int, node int32, pos, level int)
	fill = func(t int, node int32, pos, level int) {
		n := m.nodes[node]
		if level == d {
			leaf[t*(inner+1)+pos-inner] = n.value
			return
		}
		if n.feature < 0 {
			// Pad: both children repeat this leaf, so the comparison
			// (whatever x is, NaN included) cannot change the value.
			feat[t*inner+pos], thr[t*inner+pos] = 0, 0
			fill(t, node, 2*pos+1, level+1)
			fill(t, node, 2*pos+2, level+1)
			return
		}
		feat[t*inner+pos], thr[t*inner+pos] = n.feature, n.threshold
		fill(t, n.left, 2*pos+1, level+1)
		fill(t, n.right, 2*pos+2, level+1)
	}
	for t, r := range m.roots {
		fill(t, r, 0, 0)
	}
	m.depth, m.cFeat, m.cThr, m.cLeaf = d, feat, thr, leaf
	m.small = nil
	if d <= 4 {
		m.small = make([]smallTree, len(m.roots))
		for t := range m.small {
			copy(m.small[t].feat[:], feat[t*inner:(t+1)*inner])
			copy(m.small[t].thr[:], thr[t*inner:(t+1)*inner])
			copy(m.small[t].leaf[:], leaf[t*(inner+1):(t+1)*(inner+1)])
		}
	}
}

func (m *GBT) bind(features []string) error {
	if len(m.Features) != len(features) {
		return fieldErr("features", "has %d names but the pipeline produces %d features", len(m.Features), len(features))
	}
	for j, f := range m.Features {
		if f != features[j] {
			return fieldErr(fmt.Sprintf("features[%d]", j), "is %q but the pipeline's feature %d is %q", f, j, features[j])
		}
	}
	if len(m.Trees) == 0 {
		return fieldErr("trees", "missing")
	}
	d := int32(len(features))
	m.nodes, m.roots = nil, nil
	for t, tr := range m.Trees {
		n := len(tr.Feature)
		path := fmt.Sprintf("trees[%d]", t)
		if n == 0 {
			return fieldErr(path+".feature", "missing")
		}
		for _, c := range []struct {
			name string
			len  int
		}{{"threshold", len(tr.Threshold)}, {"left", len(tr.Left)}, {"right", len(tr.Right)}, {"value", len(tr.Value)}} {
			if c.len != n {
				return fieldErr(path+"."+c.name, "has %d entries but feature has %d", c.len, n)
			}
		}
		base := int32(len(m.nodes))
		m.roots = append(m.roots, base)
		for i := range n {
			f := tr.Feature[i]
			nd := node{feature: f, threshold: tr.Threshold[i], value: tr.Value[i], left: -1, right: -1}
			if f >= 0 {
				if f >= d {
					return fieldErr(fmt.Sprintf("%s.feature[%d]", path, i), "index %d out of range (%d features)", f, d)
				}
				l, r := tr.Left[i], tr.Right[i]
				if l <= int32(i) || r <= int32(i) || int(l) >= n || int(r) >= n {
					return fieldErr(fmt.Sprintf("%s.left[%d]", path, i), "children %d, %d must be later nodes of this tree", l, r)
				}
				nd.left, nd.right = base+l, base+r
			} else if f != -1 {
				return fieldErr(fmt.Sprintf("%s.feature[%d]", path, i), "must be -1 (leaf) or a feature index")
			}
			if math.IsNaN(nd.value) || math.IsInf(nd.value, 0) {
				return fieldErr(fmt.Sprintf("%s.value[%d]", path, i), "not finite")
			}
			m.nodes = append(m.nodes, nd)
		}
	}
	m.buildComplete()
	return nil
}

// FitGBT fits the ensemble. The same X, y and params (including Seed) give the
// same model bit for bit.
func FitGBT(p GBTParams, features []string, X [][]float64, y []int) (*GBT, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	n, d := len(X), len(features)
	var pos float64
	for _, v := range y {
		pos += float64(v)
	}
	if pos == 0 || pos == float64(n) {
		return nil, fmt.Errorf("gbt: training labels are all one class")
	}
	prior := pos / float64(n)
	m := &GBT{Features: append([]string(nil), features...), Init: math.Log(prior / (1 - prior))}

	// Rows sorted by each feature once; nodes filter by membership.
	order := make([][]int32, d)
	for j := range d {
		o := make([]int32, n)
		for i := range o {
			o[i] = int32(i)
		}
		slices.SortStableFunc(o, func(a, b int32) int { return cmp.Compare(X[a][j], X[b][j]) })
		order[j] = o
	}
	f := make([]float64, n) // raw scores
	for i := range f {
		f[i] = m.Init
	}
	b := &treeBuilder{p: p, X: X, order: order, res: make([]float64, n), hess: make([]float64, n), leaf: make([]int32, n)}
	rng := rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	k := max(1, int(math.Round(p.Subsample*float64(n))))
	for range p.Trees {
		for i := range n {
			pr := sigmoid(f[i])
			b.res[i] = float64(y[i]) - pr
			b.hess[i] = pr * (1 - pr)
		}
		for i := range b.leaf {
			b.leaf[i] = -1
		}
		if k < n {
			rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			for _, i := range perm[:k] {
				b.leaf[i] = 0
			}
		} else {
			for i := range b.leaf {
				b.leaf[i] = 0
			}
		}
		tr := b.build()
		m.Trees = append(m.Trees, tr)
		// Update every row's score (in- and out-of-bag).
		for i := range n {
			f[i] += tr.eval(X[i])
		}
	}
	if err := m.bind(features); err != nil {
		return nil, fmt.Errorf("gbt: internal error: %w", err)
	}
	return m, nil
}

func (t *Tree) eval(x []float64) float64 {
	i := int32(0)
	for t.Feature[i] >= 0 {
		if x[t.Feature[i]] <= t.Threshold[i] {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return t.Value[i]
}

type treeBuilder struct {
	p     GBTParams
	X     [][]float64
	order [][]int32
	res   []float64
	hess  []float64
	leaf  []int32 // node id of each sampled row; -1 when not in the sample
	tree  Tree
	// nextID is the last row-membership id handed out in this tree.
	nextID int32
}

// build grows one tree depth-first over the rows whose leaf is 0.
func (b *treeBuilder) build() Tree {
	b.tree = Tree{}
	b.nextID = 0
	b.grow(0, 0)
	return b.tree
}

func (b *treeBuilder) addNode() int32 {
	t := &b.tree
	t.Feature = append(t.Feature, -1)
	t.Threshold = append(t.Threshold, 0)
	t.Left = append(t.Left, -1)
	t.Right = append(t.Right, -1)
	t.Value = append(t.Value, 0)
	return int32(len(t.Feature) - 1)
}

// grow makes node id (rows with leaf == id) a split or a leaf.
func (b *treeBuilder) grow(id int32, depth int) {
	self := b.addNode()
	var cnt int
	var sr, sh float64
	for i, l := range b.leaf {
		if l == id {
			cnt++
			sr += b.res[i]
			sh += b.hess[i]
		}
	}
	bestGain, bestF, bestThr := 0.0, -1, 0.0
	if depth < b.p.Depth && cnt >= 2*b.p.MinLeaf {
		parent := sr * sr / float64(cnt)
		for j, o := range b.order {
			var nl int
			var sl float64
			prev := math.NaN()
			for _, i := range o {
				if b.leaf[i] != id {
					continue
				}
				x := b.X[i][j]
				if nl >= b.p.MinLeaf && cnt-nl >= b.p.MinLeaf && x != prev {
					sR := sr - sl
					gain := sl*sl/float64(nl) + sR*sR/float64(cnt-nl) - parent
					if gain > bestGain+1e-12 {
						thr := prev + (x-prev)/2
						if thr >= x {
							thr = prev
						}
						bestGain, bestF, bestThr = gain, j, thr
					}
				}
				if cnt-nl < b.p.MinLeaf {
					break
				}
				nl++
				sl += b.res[i]
				prev = x
			}
		}
	}
	if bestF < 0 {
		v := 0.0
		if den := sh + b.p.L2; den > 1e-12 {
			v = sr / den
		}
		b.tree.Value[self] = b.p.LearningRate * v
		return
	}
	// Relabel rows of this node into two fresh ids for the children.
	leftID, rightID := b.freshID(), b.freshID()
	for i, l := range b.leaf {
		if l == id {
			if b.X[i][bestF] <= bestThr {
				b.leaf[i] = leftID
			} else {
				b.leaf[i] = rightID
			}
		}
	}
	b.tree.Feature[self] = int32(bestF)
	b.tree.Threshold[self] = bestThr
	b.tree.Left[self] = int32(len(b.tree.Feature))
	b.grow(leftID, depth+1)
	b.tree.Right[self] = int32(len(b.tree.Feature))
	b.grow(rightID, depth+1)
}

// freshID returns a row-membership id no row currently has. Ids only need to
// be unique within one tree; node count is bounded by 2^(depth+1).
func (b *treeBuilder) freshID() int32 {
	b.nextID++
	return b.nextID
}
