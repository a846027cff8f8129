"""The MATH few-shot prompts, exact (the same four Minerva problems in three renderings).

- :data:`OC2023_SHOTS`: OpenCompass ``math_gen_265cce`` (OC@2c915218) rendered for a base model
  without a meta template: the eight HUMAN/BOT items joined with ``"\\n"``. OpenCompass fills
  templates with ``str.replace``, so the doubled braces of that config (``\\frac{{a}}{{b}}``)
  reach the model doubled; the stray ``}}`` after shot 1's problem too.
- :data:`MINERVA_LM`: lm-evaluation-harness ``minerva_math`` ``PROMPT`` (LM@0348ed97): proper
  ``\\\\`` line breaks, a stray ``}`` after shot 1's problem.
- :data:`MINERVA4`: OpenCompass ``math_4shot_example_from_google_research.prompt``
  (OC@2954913d; PROTOCOLS_MORE X1, sha256 73e99c77...): its two LaTeX line breaks are a single
  backslash before the newline.
"""

from __future__ import annotations

OC2023_SHOTS = (
    'Problem:\nFind the domain of the expression '
    '$\\frac{{\\sqrt{{x-2}}}}{{\\sqrt{{5-x}}}}$.}}\nSolution:\nThe expressions inside '
    'each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and '
    '$5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so '
    '$5-x>0$, which gives $x<5$. Therefore, the domain of the expression is '
    '$\\boxed{{[2,5)}}$.\nFinal Answer: The final answer is $[2,5)$. I hope it is '
    'correct.\n\nProblem:\nIf $\\det \\mathbf{{A}} = 2$ and $\\det \\mathbf{{B}} = '
    '12,$ then find $\\det (\\mathbf{{A}} \\mathbf{{B}}).$\nSolution:\nWe have that '
    '$\\det (\\mathbf{{A}} \\mathbf{{B}}) = (\\det \\mathbf{{A}})(\\det \\mathbf{{B}}) '
    '= (2)(12) = \\boxed{{24}}.$\nFinal Answer: The final answer is $24$. I hope it is '
    'correct.\n\nProblem:\nTerrell usually lifts two 20-pound weights 12 times. If he '
    'uses two 15-pound weights instead, how many times must Terrell lift them in order '
    'to lift the same total weight?\nSolution:\nIf Terrell lifts two 20-pound weights '
    '12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of weight. If he '
    'lifts two 15-pound weights instead for $n$ times, he will lift a total of '
    '$2\\cdot15\\cdot n=30n$ pounds of weight. Equating this to 480 pounds, we can '
    'solve for $n$: \\begin{{align*}} 30n&=480\\\\ \\Rightarrow\\qquad '
    'n&=480/30=\\boxed{{16}} \\end{{align*}}\nFinal Answer: The final answer is $16$. '
    'I hope it is correct.\n\nProblem:\nIf the system of equations: \\begin{{align*}} '
    '6x-4y&=a,\\\\ 6y-9x &=b. \\end{{align*}}has a solution $(x, y)$ where $x$ and $y$ '
    'are both nonzero, find $\\frac{{a}}{{b}},$ assuming $b$ is nonzero.\nSolution:\n'
    'If we multiply the first equation by $-\\frac{{3}}{{2}}$, we obtain '
    '$$6y-9x=-\\frac{{3}}{{2}}a.$$Since we also know that $6y-9x=b$, we have '
    '$$-\\frac{{3}}{{2}}a=b\\Rightarrow\\frac{{a}}{{b}}=\\boxed{{-\\frac{{2}}{{3}}}}.$$\n'
    'Final Answer: The final answer is $-\\frac{{2}}{{3}}$. I hope it is correct.\n'
)

MINERVA_LM = (
    'Problem:\nFind the domain of the expression  '
    '$\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}\n\nSolution:\nThe expressions inside each '
    'square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - '
    'x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so '
    '$5-x>0$, which gives $x<5$. Therefore, the domain of the expression is '
    '$\\boxed{[2,5)}$.\nFinal Answer: The final answer is $[2,5)$. I hope it is '
    'correct.\n\nProblem:\nIf $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ '
    'then find $\\det (\\mathbf{A} \\mathbf{B}).$\n\nSolution:\nWe have that $\\det '
    '(\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = '
    '\\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct.\n\n'
    'Problem:\nTerrell usually lifts two 20-pound weights 12 times. If he uses two '
    '15-pound weights instead, how many times must Terrell lift them in order to lift '
    'the same total weight?\n\nSolution:\nIf Terrell lifts two 20-pound weights 12 '
    'times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of weight.  If he '
    'lifts two 15-pound weights instead for $n$ times, he will lift a total of '
    '$2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can '
    'solve for $n$:\n\\begin{align*}\n30n&=480\\\\\n\\Rightarrow\\qquad '
    'n&=480/30=\\boxed{16}\n\\end{align*}\nFinal Answer: The final answer is $16$. I '
    'hope it is correct.\n\nProblem:\nIf the system of equations\n\n\\begin{align*}\n'
    '6x-4y&=a,\\\\\n6y-9x &=b.\n\\end{align*}has a solution $(x, y)$ where $x$ and $y$ '
    'are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.\n\nSolution:\nIf '
    'we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n'
    '$$6y-9x=-\\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have\n\n'
    '$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\nFinal '
    'Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.'
)

MINERVA4 = (
    'Problem:\nFind the domain of the expression $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.\n'
    '\nSolution:\nThe expressions inside each square root must be non-negative. '
    'Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, '
    'the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. '
    'Therefore, the domain of the expression is $\\boxed{[2,5)}$.\nFinal Answer: The '
    'final answer is $[2,5)$. I hope it is correct.\n\nProblem:\nIf $\\det \\mathbf{A} '
    '= 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$\n'
    '\nSolution:\nWe have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det '
    '\\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = \\boxed{24}.$\nFinal Answer: The '
    'final answer is $24$. I hope it is correct.\n\nProblem:\nTerrell usually lifts '
    'two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many '
    'times must Terrell lift them in order to lift the same total weight?\n\n'
    'Solution:\nIf Terrell lifts two 20-pound weights 12 times, he lifts a total of '
    '$2\\cdot 12\\cdot20=480$ pounds of weight. If he lifts two 15-pound weights '
    'instead for $n$ times, he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of '
    'weight. Equating this to 480 pounds, we can solve for $n$:\n\\begin{align*}\n'
    '30n&=480\\\n\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\nFinal '
    'Answer: The final answer is $16$. I hope it is correct.\n\nProblem:\nIf the '
    'system of equations\n\\begin{align*}\n6x-4y&=a,\\\n6y-9x &=b.\n\\end{align*}\nhas '
    'a solution $(x, y)$ where $x$ and $y$ are both nonzero, find $\\frac{a}{b},$ '
    'assuming $b$ is nonzero.\n\nSolution:\nIf we multiply the first equation by '
    '$-\\frac{3}{2}$, we obtain $$6y-9x=-\\frac{3}{2}a.$$Since we also know that '
    '$6y-9x=b$, we have '
    '$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\nFinal '
    'Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.'
)
